use super::*;

fn env(name: &str) -> Option<String> {
    match name {
        "FOO" => Some("/bar".into()),
        "PWD" => Some("/home".into()),
        "EMPTY" => Some(String::new()),
        "SPACED" => Some("a  b c".into()),
        "MY_NAME" => Some("John Doe".into()),
        _ => None,
    }
}

fn w(text: &str) -> String {
    word(text, '\\', &env).unwrap_or_else(|e| panic!("{text}: {e}"))
}

fn ws(text: &str) -> Vec<String> {
    words(text, '\\', &env).unwrap_or_else(|e| panic!("{text}: {e}"))
}

fn fails(text: &str) -> String {
    word(text, '\\', &env).unwrap_err().0
}

#[test]
fn documented_substitutions() {
    // docs.docker.com/reference/dockerfile/#environment-replacement
    assert_eq!(w("${FOO}"), "/bar");
    assert_eq!(w("$FOO"), "/bar");
    assert_eq!(w(r"\$FOO"), "$FOO");
    assert_eq!(w(r"\${FOO}"), "${FOO}");
    assert_eq!(w("${FOO}/baz"), "/bar/baz");
    assert_eq!(w("${UNSET:-word}"), "word");
    assert_eq!(w("${FOO:-word}"), "/bar");
    assert_eq!(w("${FOO:+word}"), "word");
    assert_eq!(w("${UNSET:+word}"), "");
    // The word after the modifier is itself expanded.
    assert_eq!(w("${UNSET:-${FOO}/x}"), "/bar/x");
    assert_eq!(w("${FOO:+${UNSET:-xxx}}"), "xxx");
}

#[test]
fn colon_tests_empty_too() {
    assert_eq!(w("${EMPTY:-d}"), "d");
    assert_eq!(w("${EMPTY-d}"), "");
    assert_eq!(w("${UNSET-d}"), "d");
    assert_eq!(w("${EMPTY:+a}"), "");
    assert_eq!(w("${EMPTY+a}"), "a");
    assert_eq!(w("${UNSET+a}"), "");
    assert_eq!(w("${FOO:?}"), "/bar");
    assert_eq!(w("${EMPTY?}"), "");
}

#[test]
fn required_variables() {
    assert_eq!(
        fails("${UNSET:?}"),
        r#"failed to process "${UNSET:?}": UNSET: is not allowed to be unset"#
    );
    assert_eq!(
        fails("${UNSET?please set it}"),
        r#"failed to process "${UNSET?please set it}": UNSET: please set it"#
    );
    assert_eq!(
        fails("${EMPTY:?}"),
        r#"failed to process "${EMPTY:?}": EMPTY: is not allowed to be empty"#
    );
}

#[test]
fn quotes_and_escapes() {
    // From the ENV examples: quotes group, the escape keeps a space.
    assert_eq!(w(r#""John Doe""#), "John Doe");
    assert_eq!(w(r"Rex\ The\ Dog"), "Rex The Dog");
    assert_eq!(w("he'll'o"), "hello");
    assert_eq!(w(r"he\'llo"), "he'llo");
    assert_eq!(w("'$FOO'"), "$FOO");
    assert_eq!(w(r"'a\b'"), r"a\b");
    assert_eq!(w(r#""$FOO""#), "/bar");
    assert_eq!(w(r#""\$FOO""#), "$FOO");
    assert_eq!(w(r#""a\"b""#), r#"a"b"#);
    assert_eq!(w(r#""a\\b""#), r"a\b");
    // Inside double quotes other escapes stay as written.
    assert_eq!(w(r#""a\nb""#), r"a\nb");
    assert_eq!(w(r"abc\\"), r"abc\");
    // A lone escape at the end is dropped.
    assert_eq!(w(r"abc\"), "abc");
    assert_eq!(w("a $ b"), "a $ b");
    assert_eq!(w("$UNSET"), "");
    assert_eq!(w("x${UNSET}y"), "xy");
}

#[test]
fn backtick_escape() {
    let lookup = |n: &str| env(n);
    assert_eq!(word("`$FOO", '`', &lookup).unwrap(), "$FOO");
    assert_eq!(word(r"c:\path", '`', &lookup).unwrap(), r"c:\path");
    assert_eq!(word(r#""a`"b""#, '`', &lookup).unwrap(), r#"a"b"#);
}

#[test]
fn names() {
    assert_eq!(w("$FOO_x"), "");
    assert_eq!(w("$FOO-x"), "/bar-x");
    assert_eq!(w("$1x"), "x");
}

#[test]
fn syntax_errors() {
    assert_eq!(
        fails("he'llo"),
        r#"failed to process "he'llo": unexpected end of statement while looking for matching single-quote"#
    );
    assert!(fails(r#""abc"#).ends_with("looking for matching double-quote"));
    assert!(fails("${").ends_with("syntax error: missing '}'"));
    assert!(fails("${FOO").ends_with("syntax error: missing '}'"));
    assert!(fails("${FOO:-x").ends_with("syntax error: missing '}'"));
    assert!(fails("${}").ends_with("syntax error: bad substitution"));
    assert!(fails("${:x}").ends_with("syntax error: bad substitution"));
    assert!(fails("${FOO:x}").ends_with("unsupported modifier (:x) in substitution"));
    assert!(fails("${FOO^}").ends_with("unsupported modifier (^) in substitution"));
    assert!(fails("${FOO/x").ends_with("syntax error: missing '/' in ${}"));
}

#[test]
fn words_split_like_process_words() {
    assert_eq!(ws("a b  c"), ["a", "b", "c"]);
    assert_eq!(ws(r#""a b" c"#), ["a b", "c"]);
    assert_eq!(ws(r"a\ b c"), ["a b", "c"]);
    // A variable's value splits, a quoted one does not.
    assert_eq!(ws("$SPACED"), ["a", "b", "c"]);
    assert_eq!(ws(r#""$SPACED""#), ["a  b c"]);
    assert_eq!(ws("x$SPACED"), ["xa", "b", "c"]);
    // Empty words vanish.
    assert_eq!(ws(r#"$UNSET "" a"#), ["a"]);
    assert_eq!(ws("80/tcp ${PORT:-8080}"), ["80/tcp", "8080"]);
    assert!(ws("").is_empty());
}

#[test]
fn heredoc_bodies() {
    let body = "echo \"$FOO\" '${PWD}'\nlit \\$FOO\n";
    assert_eq!(
        heredoc(body, &env).unwrap(),
        "echo \"/bar\" '/home'\nlit $FOO\n"
    );
}

#[test]
fn raw_options_for_the_parser() {
    let opts = Options {
        raw_quotes: true,
        raw_escapes: true,
        skip_unset: true,
        ..Options::new('\\')
    };
    let got = words_with(r#"cat <<"EOF" $X ${Y:-z} a\ b"#, opts, &|_| None).unwrap();
    assert_eq!(got, ["cat", r#"<<"EOF""#, "$X", "${Y:-z}", r"a\ b"]);
}

#[test]
fn pattern_modifiers() {
    // docs: ${variable#pattern}, ${variable%pattern}, ${variable/pattern/replacement}
    let env = |n: &str| match n {
        "string" => Some("foobarbaz".to_string()),
        "path" => Some("/usr/local/bin/tool.tar.gz".to_string()),
        _ => None,
    };
    let w = |t: &str| word(t, '\\', &env).unwrap();
    assert_eq!(w("${string#*o}"), "obarbaz");
    assert_eq!(w("${string##*o}"), "barbaz");
    assert_eq!(w("${string%a*}"), "foobarb");
    assert_eq!(w("${string%%a*}"), "foob");
    assert_eq!(w("${path##*/}"), "tool.tar.gz");
    assert_eq!(w("${path%.*}"), "/usr/local/bin/tool.tar");
    assert_eq!(w("${path%%.*}"), "/usr/local/bin/tool");
    assert_eq!(w("${path#/usr/}"), "local/bin/tool.tar.gz");
    assert_eq!(w("${string#x}"), "foobarbaz");
    assert_eq!(w("${string/ba/XX}"), "fooXXrbaz");
    assert_eq!(w("${string//ba/XX}"), "fooXXrXXz");
    assert_eq!(w("${string/b*/-}"), "foo-");
    assert_eq!(w("${string/[ab]?/_}"), "foo_rbaz");
    assert_eq!(w("${unset#x}"), "");
    assert_eq!(w("${string:#foo}"), "barbaz");
    assert_eq!(w("${string#\\f}"), "oobarbaz");
}
