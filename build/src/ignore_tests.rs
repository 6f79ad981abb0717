//! `.dockerignore` tests, from docs.docker.com/build/concepts/context/#dockerignore-files
//! and moby/patternmatcher's documented behaviour.

use super::*;

fn ig(text: &str) -> Ignore {
    Ignore::parse(text).unwrap_or_else(|e| panic!("{e}"))
}

#[track_caller]
fn check(ignore: &Ignore, excluded: &[&str], kept: &[&str]) {
    for p in excluded {
        assert!(ignore.excludes(p), "{p} should be excluded");
    }
    for p in kept {
        assert!(!ignore.excludes(p), "{p} should be kept");
    }
}

#[test]
fn documented_example() {
    let i = ig("# comment\n*/temp*\n*/*/temp*\ntemp?\n");
    check(
        &i,
        &[
            "somedir/temporary.txt",
            "somedir/temp",
            "somedir/temp/inside/file",
            "somedir/subdir/temporary.txt",
            "tempa",
            "tempb/inside",
        ],
        &[
            "temp",
            "temporary.txt",
            "a/b/c/temp.txt",
            "tempab",
            "somedir/x.txt",
            "# comment",
        ],
    );
}

#[test]
fn double_star() {
    let i = ig("**/*.go");
    check(
        &i,
        &["main.go", "a/b/c.go", "x/.go"],
        &["main.go.txt", "a/go", "a/b/c.gox"],
    );
    check(&ig("**"), &["a", "a/b/c"], &[]);
    check(
        &ig("a/**/b"),
        &["a/b", "a/x/b", "a/x/y/b", "a/x/b/c"],
        &["ab", "a/xb"],
    );
    check(&ig("a/**"), &["a/b", "a/b/c"], &["a", "ab"]);
    // `**/name` is "ends in /name, or is name".
    check(
        &ig("**/foo"),
        &["foo", "x/foo", "x/y/foo/z"],
        &["xfoo", "foox"],
    );
}

#[test]
fn exceptions_last_match_wins() {
    // docs: all markdown files but the README files, except README-secret.md.
    let i = ig("*.md\n!README*.md\nREADME-secret.md\n");
    check(
        &i,
        &["CHANGES.md", "README-secret.md"],
        &["README.md", "README-a.md", "docs/x.md"],
    );
    // docs: the order matters; here README-secret.md is kept.
    let i = ig("*.md\nREADME-secret.md\n!README*.md\n");
    check(&i, &["CHANGES.md"], &["README.md", "README-secret.md"]);
}

#[test]
fn parent_directories_exclude_their_contents() {
    let i = ig("build\n!build/keep.txt\n");
    check(
        &i,
        &["build", "build/a.o", "build/sub/b.o"],
        &["build/keep.txt", "builds", "src/build.rs"],
    );
    // Patterns match from the context root, not anywhere.
    check(&ig("temp"), &["temp", "temp/x"], &["a/temp"]);
}

#[test]
fn cleaning_and_comments() {
    let i = ig("/foo/bar\n./baz/../qux/\n  spaced  \n # not a comment\n\n!\t/foo/bar/keep\n");
    check(
        &i,
        &[
            "foo/bar",
            "foo/bar/x",
            "qux",
            "qux/x",
            "spaced",
            "# not a comment",
        ],
        &["foo/bar/keep", "baz", "foo"],
    );
    assert!(ig("# only comments\n\n   \n").is_empty());
    assert_eq!(clean("a//b/./c/.."), "a/b");
    assert_eq!(clean("../a"), "../a");
    assert_eq!(clean("/../a"), "/a");
    assert_eq!(clean(""), ".");
}

#[test]
fn wildcards_and_classes() {
    check(&ig("*"), &["a", "a/b", ".hidden"], &[]);
    check(&ig("a?c"), &["abc", "a.c"], &["a/c", "ac", "abbc"]);
    check(
        &ig("file[0-9].txt"),
        &["file1.txt"],
        &["filea.txt", "file10.txt"],
    );
    check(&ig("file[^0-9].txt"), &["filea.txt"], &["file1.txt"]);
    check(&ig("x[ab]y"), &["xay", "xby"], &["xcy"]);
    check(&ig(r"a\*b"), &["a*b"], &["axb"]);
    check(&ig("*.txt"), &["a.txt"], &["dir/a.txt", "atxt"]);
    check(&ig("a+b(c).{d}$"), &["a+b(c).{d}$"], &["aab(c).{d}$"]);
    // `**x` (no slash) is "ends with x", as patternmatcher's suffix test says.
    check(&ig("**foo"), &["xfoo", "a/foo"], &["foox"]);
}

#[test]
fn bad_patterns() {
    assert_eq!(
        Ignore::parse("ok\n[a-").unwrap_err(),
        IgnoreError {
            line: 2,
            message: "syntax error in pattern".into()
        }
    );
    assert_eq!(
        Ignore::parse("[]").unwrap_err().message,
        "syntax error in pattern"
    );
    assert_eq!(
        Ignore::parse(r"a\").unwrap_err().message,
        "syntax error in pattern"
    );
    assert_eq!(
        Ignore::parse("!").unwrap_err().to_string(),
        "line 1: illegal exclusion pattern: \"!\""
    );
}

#[test]
fn copy_exclude_patterns() {
    let i = Ignore::from_patterns(["*.txt", "!keep.txt"]).unwrap();
    check(&i, &["a.txt"], &["keep.txt", "a.md"]);
    assert!(Ignore::from_patterns(Vec::<String>::new())
        .unwrap()
        .is_empty());
}

#[test]
fn skipping_excluded_directories() {
    let i = ig("node_modules\n*.log");
    assert!(!i.may_include_under("node_modules"));
    let i = ig("*\n!src/keep.txt\n");
    assert!(i.may_include_under("src"));
    assert!(!i.may_include_under("docs"));
    assert!(!i.may_include_under("src/deeper"));
    let i = ig("docs\n!**/*.md\n");
    assert!(i.may_include_under("docs"));
    let i = ig("build\n!build/keep/\n");
    assert!(i.may_include_under("build"));
    assert!(i.may_include_under("build/keep"));
    assert!(!i.may_include_under("build/other"));
    let i = ig("*/temp*\n!*/temp*/keep\n");
    assert!(i.may_include_under("a/temp"));
    assert!(!i.may_include_under("a/other"));
    // An exception naming the directory itself.
    let i = ig("a\n!a\na\n");
    assert!(i.may_include_under("a"));
}
