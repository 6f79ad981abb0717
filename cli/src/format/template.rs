//! Go's text/template, the language of Docker's and Compose's `--format`, for the data berth
//! formats: actions with pipelines, fields and chains (`.A.B`, `$x.A`, `(pipe).A`),
//! variables (`$`, `$x := ...`, `$i, $v := range`), `if`/`else if`/`else`, `range`
//! (with `else`), `with`, comments, trim markers (`{{- ` / ` -}}`), Go's builtins (`and`, `or`,
//! `not`, `len`, `index`, `print`, `printf`, `println`, `eq`, `ne`, `lt`, `le`, `gt`, `ge`) and
//! Docker's (`json`, `join`, `split`, `lower`, `upper`, `title`, `pad`, `truncate`).
//!
//! Why not the `gtmpl` crate (0.7.1, passively maintained): it is not faithful where scripts
//! look. It prints lists and maps with Rust's Debug (`[String("a")]` where Go prints `[a]`),
//! ranges over and prints maps in HashMap order (Go sorts the keys), prints `nil` for Go's
//! `<nil>`, cannot call a method with arguments (Docker's `{{.Label "com.docker.compose.service"}}`),
//! and its errors carry no position, where Docker's read
//! `template: :1:2: executing "" at <.Nope>: can't evaluate field Nope in type ...`.
//!
//! Values are Go's as Docker hands them over: a [`Value::Struct`] is a Go struct (an unknown
//! field is an error), a [`Value::Map`] a Go map (a missing key is `<no value>`).
//! Not supported (Docker's formatters never need them): `define`/`template`/`block`, `break`/
//! `continue`, character constants, complex numbers, `html`/`js`/`urlquery`, `slice`, `call`.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::rc::Rc;

/// A value a template sees.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// A missing map entry (or an unset variable): prints `<no value>`.
    NoValue,
    /// A nil pointer, interface, slice or map: prints `<nil>`.
    Nil,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    List(Vec<Value>),
    /// A Go map: printed and ranged over in key order.
    Map(BTreeMap<String, Value>),
    Struct(Rc<Struct>),
}

/// A Go struct: its type name (for errors), its fields in declaration order (`{{json .}}`
/// keeps it), and, for Docker's container contexts, the labels its `Label` method reads.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Struct {
    /// Go's type in errors, e.g. `*formatter.ContainerContext`; empty: a map decoded from
    /// JSON, as `docker inspect` falls back to, whose errors say `map has no entry for key`.
    pub ty: String,
    pub fields: Vec<(String, Value)>,
    pub labels: Option<BTreeMap<String, String>>,
}

impl Value {
    pub fn str(s: impl Into<String>) -> Value {
        Value::Str(s.into())
    }

    pub fn strct(ty: &str, fields: Vec<(&str, Value)>) -> Value {
        Value::Struct(Rc::new(Struct {
            ty: ty.into(),
            fields: fields.into_iter().map(|(k, v)| (k.into(), v)).collect(),
            labels: None,
        }))
    }

    /// A JSON document as Go's `docker inspect` sees it: objects are structs (an unknown field
    /// is an error), except the values of keys named in `maps`, which are Go maps (Labels,
    /// Options...).
    pub fn from_json(v: &serde_json::Value, maps: &[&str]) -> Value {
        Self::from_json_as(v, maps, false)
    }

    fn from_json_as(v: &serde_json::Value, maps: &[&str], as_map: bool) -> Value {
        use serde_json::Value as J;
        match v {
            J::Null => Value::Nil,
            J::Bool(b) => Value::Bool(*b),
            J::Number(n) => match n.as_i64() {
                Some(i) => Value::Int(i),
                None => Value::Float(n.as_f64().unwrap_or(0.0)),
            },
            J::String(s) => Value::Str(s.clone()),
            J::Array(a) => Value::List(
                a.iter()
                    .map(|x| Self::from_json_as(x, maps, false))
                    .collect(),
            ),
            J::Object(o) if as_map => Value::Map(
                o.iter()
                    .map(|(k, x)| (k.clone(), Self::from_json_as(x, maps, false)))
                    .collect(),
            ),
            J::Object(o) => Value::Struct(Rc::new(Struct {
                ty: String::new(),
                fields: o
                    .iter()
                    .map(|(k, x)| {
                        (
                            k.clone(),
                            Self::from_json_as(x, maps, maps.contains(&k.as_str())),
                        )
                    })
                    .collect(),
                labels: None,
            })),
        }
    }

    /// `encoding/json` of the value, as Docker's `json` function (no HTML escaping).
    pub fn to_json(&self) -> serde_json::Value {
        use serde_json::Value as J;
        match self {
            Value::NoValue | Value::Nil => J::Null,
            Value::Bool(b) => J::Bool(*b),
            Value::Int(i) => J::from(*i),
            Value::Float(f) => J::from(*f),
            Value::Str(s) => J::String(s.clone()),
            Value::List(l) => J::Array(l.iter().map(Value::to_json).collect()),
            Value::Map(m) => J::Object(m.iter().map(|(k, v)| (k.clone(), v.to_json())).collect()),
            Value::Struct(s) => J::Object(
                s.fields
                    .iter()
                    .map(|(k, v)| (k.clone(), v.to_json()))
                    .collect(),
            ),
        }
    }

    /// Go's truth: false, 0, nil and empty values are false; every struct is true.
    fn truth(&self) -> bool {
        match self {
            Value::NoValue | Value::Nil => false,
            Value::Bool(b) => *b,
            Value::Int(i) => *i != 0,
            Value::Float(f) => *f != 0.0,
            Value::Str(s) => !s.is_empty(),
            Value::List(l) => !l.is_empty(),
            Value::Map(m) => !m.is_empty(),
            Value::Struct(_) => true,
        }
    }

    fn kind(&self) -> &'static str {
        match self {
            Value::NoValue => "invalid",
            Value::Nil => "nil",
            Value::Bool(_) => "bool",
            Value::Int(_) => "int",
            Value::Float(_) => "float64",
            Value::Str(_) => "string",
            Value::List(_) => "slice",
            Value::Map(_) => "map",
            Value::Struct(_) => "struct",
        }
    }
}

/// fmt's `%v`, as text/template prints a value.
impl std::fmt::Display for Value {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Value::NoValue => f.write_str("<no value>"),
            Value::Nil => f.write_str("<nil>"),
            Value::Bool(b) => write!(f, "{b}"),
            Value::Int(i) => write!(f, "{i}"),
            Value::Float(x) => f.write_str(&go_float(*x)),
            Value::Str(s) => f.write_str(s),
            Value::List(l) => {
                f.write_str("[")?;
                for (i, x) in l.iter().enumerate() {
                    if i > 0 {
                        f.write_str(" ")?;
                    }
                    write!(f, "{x}")?;
                }
                f.write_str("]")
            }
            Value::Map(m) => {
                f.write_str("map[")?;
                for (i, (k, x)) in m.iter().enumerate() {
                    if i > 0 {
                        f.write_str(" ")?;
                    }
                    write!(f, "{k}:{x}")?;
                }
                f.write_str("]")
            }
            Value::Struct(s) => {
                f.write_str("{")?;
                for (i, (_, x)) in s.fields.iter().enumerate() {
                    if i > 0 {
                        f.write_str(" ")?;
                    }
                    write!(f, "{x}")?;
                }
                f.write_str("}")
            }
        }
    }
}

/// `%v` of a float64: the shortest representation, in exponent form from 1e21 up or below
/// 1e-4 (strconv's 'g' with the shortest precision).
fn go_float(x: f64) -> String {
    let a = x.abs();
    if x == 0.0 || (1e-4..1e21).contains(&a) {
        format!("{x}")
    } else {
        let s = format!("{x:e}");
        // Rust prints 1e21 / 1.5e-7; Go 1e+21 / 1.5e-07.
        let (m, e) = s.split_once('e').unwrap_or((&s, "0"));
        let (sign, digits) = match e.strip_prefix('-') {
            Some(d) => ('-', d),
            None => ('+', e),
        };
        format!("{m}e{sign}{digits:0>2}")
    }
}

/// A parse or execution error, worded as Go's.
#[derive(Debug, Clone, PartialEq)]
pub struct Error(pub String);

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Error {}

// ---------------------------------------------------------------------------------------------
// Lexer

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Text(String),
    Left,
    Right,
    Field(String),
    Dot,
    Var(String),
    Ident(String),
    Str(String),
    Num(String),
    Pipe,
    LParen,
    RParen,
    Declare,
    Assign,
    Comma,
    Space,
    Eof,
}

#[derive(Debug, Clone)]
struct Item {
    tok: Tok,
    pos: usize,
}

fn line_of(src: &str, pos: usize) -> usize {
    1 + src[..pos.min(src.len())].matches('\n').count()
}

fn parse_err(src: &str, pos: usize, msg: impl std::fmt::Display) -> Error {
    Error(format!("template: :{}: {msg}", line_of(src, pos)))
}

fn lex(src: &str) -> Result<Vec<Item>, Error> {
    let b = src.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    let mut trim_next = false;
    while i < b.len() {
        // Text up to the next action.
        let start = i;
        let next = src[i..].find("{{").map(|o| i + o).unwrap_or(b.len());
        let mut text = &src[start..next];
        if trim_next {
            text = text.trim_start_matches([' ', '\t', '\r', '\n']);
            trim_next = false;
        }
        let trim_left = next + 3 < b.len()
            && &src[next..next + 3] == "{{-"
            && matches!(b[next + 3], b' ' | b'\t' | b'\r' | b'\n');
        if trim_left {
            text = text.trim_end_matches([' ', '\t', '\r', '\n']);
        }
        if !text.is_empty() {
            out.push(Item {
                tok: Tok::Text(text.into()),
                pos: start,
            });
        }
        if next >= b.len() {
            break;
        }
        out.push(Item {
            tok: Tok::Left,
            pos: next,
        });
        i = next + 2;
        if trim_left {
            i += 2;
        }
        // A comment is the whole action.
        if src[i..].starts_with("/*") {
            let end = src[i..]
                .find("*/")
                .ok_or_else(|| parse_err(src, i, "unclosed comment"))?;
            i += end + 2;
            let rest = &src[i..];
            if rest.starts_with(" -}}") {
                i += 4;
                trim_next = true;
            } else if rest.starts_with("}}") {
                i += 2;
            } else {
                return Err(parse_err(src, i, "comment ends before closing delimiter"));
            }
            out.pop();
            continue;
        }
        // The action's tokens, up to the right delimiter.
        let mut depth = 0usize;
        loop {
            if i >= b.len() {
                return Err(parse_err(src, i, "unclosed action"));
            }
            let rest = &src[i..];
            if rest.starts_with(" -}}") || rest.starts_with("\t-}}") || rest.starts_with("\n-}}") {
                out.push(Item {
                    tok: Tok::Right,
                    pos: i + 1,
                });
                i += 4;
                trim_next = true;
                break;
            }
            if rest.starts_with("}}") {
                if depth > 0 {
                    return Err(parse_err(src, i, "unclosed left paren"));
                }
                out.push(Item {
                    tok: Tok::Right,
                    pos: i,
                });
                i += 2;
                break;
            }
            let c = b[i];
            let pos = i;
            let tok = match c {
                b' ' | b'\t' | b'\r' | b'\n' => {
                    while i < b.len() && matches!(b[i], b' ' | b'\t' | b'\r' | b'\n') {
                        if src[i..].starts_with(" -}}") {
                            break;
                        }
                        i += 1;
                    }
                    if i == pos {
                        i += 1;
                    }
                    Tok::Space
                }
                b'|' => {
                    i += 1;
                    Tok::Pipe
                }
                b'(' => {
                    i += 1;
                    depth += 1;
                    Tok::LParen
                }
                b')' => {
                    i += 1;
                    if depth == 0 {
                        return Err(parse_err(src, pos, "unexpected right paren"));
                    }
                    depth -= 1;
                    Tok::RParen
                }
                b',' => {
                    i += 1;
                    Tok::Comma
                }
                b':' if rest.starts_with(":=") => {
                    i += 2;
                    Tok::Declare
                }
                b'=' => {
                    i += 1;
                    Tok::Assign
                }
                b'"' => {
                    i += 1;
                    let mut s = String::new();
                    loop {
                        let Some(ch) = src[i..].chars().next() else {
                            return Err(parse_err(src, pos, "unterminated quoted string"));
                        };
                        i += ch.len_utf8();
                        match ch {
                            '"' => break,
                            '\n' => return Err(parse_err(src, pos, "unterminated quoted string")),
                            '\\' => {
                                let Some(e) = src[i..].chars().next() else {
                                    return Err(parse_err(src, pos, "unterminated quoted string"));
                                };
                                i += e.len_utf8();
                                s.push(match e {
                                    'n' => '\n',
                                    't' => '\t',
                                    'r' => '\r',
                                    '\\' => '\\',
                                    '"' => '"',
                                    '\'' => '\'',
                                    '0' => '\0',
                                    other => {
                                        return Err(parse_err(
                                            src,
                                            pos,
                                            format!("invalid syntax: unknown escape \\{other}"),
                                        ))
                                    }
                                });
                            }
                            ch => s.push(ch),
                        }
                    }
                    Tok::Str(s)
                }
                b'`' => {
                    let end = src[i + 1..]
                        .find('`')
                        .ok_or_else(|| parse_err(src, pos, "unterminated raw quoted string"))?;
                    let s = src[i + 1..i + 1 + end].to_string();
                    i += end + 2;
                    Tok::Str(s)
                }
                b'.' if i + 1 < b.len() && is_alnum(b[i + 1]) && !b[i + 1].is_ascii_digit() => {
                    i += 1;
                    while i < b.len() && is_alnum(b[i]) {
                        i += 1;
                    }
                    Tok::Field(src[pos + 1..i].into())
                }
                b'.' if !(i + 1 < b.len() && b[i + 1].is_ascii_digit()) => {
                    i += 1;
                    Tok::Dot
                }
                b'$' => {
                    i += 1;
                    while i < b.len() && is_alnum(b[i]) {
                        i += 1;
                    }
                    Tok::Var(src[pos..i].into())
                }
                b'0'..=b'9' | b'-' | b'+' | b'.' => {
                    i += 1;
                    while i < b.len()
                        && (is_alnum(b[i])
                            || b[i] == b'.'
                            || ((b[i] == b'-' || b[i] == b'+') && matches!(b[i - 1], b'e' | b'E')))
                    {
                        i += 1;
                    }
                    Tok::Num(src[pos..i].into())
                }
                c if is_alnum(c) => {
                    while i < b.len() && is_alnum(b[i]) {
                        i += 1;
                    }
                    Tok::Ident(src[pos..i].into())
                }
                _ => {
                    let ch = rest.chars().next().unwrap_or(' ');
                    return Err(parse_err(
                        src,
                        pos,
                        format!(
                            "unrecognized character in action: U+{:04X} '{ch}'",
                            ch as u32
                        ),
                    ));
                }
            };
            out.push(Item { tok, pos });
        }
    }
    out.push(Item {
        tok: Tok::Eof,
        pos: b.len(),
    });
    Ok(out)
}

fn is_alnum(c: u8) -> bool {
    c == b'_' || c.is_ascii_alphanumeric() || c >= 0x80
}

// ---------------------------------------------------------------------------------------------
// Parser

#[derive(Debug)]
enum Node {
    Text(String),
    Action(Pipe),
    If(Pipe, Vec<Node>, Option<Vec<Node>>),
    Range(Pipe, Vec<Node>, Option<Vec<Node>>),
    With(Pipe, Vec<Node>, Option<Vec<Node>>),
}

#[derive(Debug)]
struct Pipe {
    decl: Vec<String>,
    /// `=` (assign to an existing variable) rather than `:=`.
    assign: bool,
    cmds: Vec<Cmd>,
}

#[derive(Debug)]
struct Cmd {
    args: Vec<Arg>,
    pos: usize,
    text: String,
}

#[derive(Debug)]
struct Arg {
    term: Term,
    pos: usize,
    text: String,
}

#[derive(Debug)]
enum Term {
    Dot,
    Nil,
    Field(Vec<String>),
    Var(String, Vec<String>),
    Ident(String),
    Literal(Value),
    Paren(Box<Pipe>, Vec<String>),
}

const FUNCS: &[&str] = &[
    "and", "or", "not", "len", "index", "print", "printf", "println", "eq", "ne", "lt", "le", "gt",
    "ge", "json", "join", "split", "lower", "upper", "title", "pad", "truncate",
];

struct Parser<'a> {
    src: &'a str,
    items: Vec<Item>,
    at: usize,
    vars: Vec<String>,
}

/// What ended a list of nodes.
enum Stop {
    Eof,
    End,
    Else(usize),
}

impl<'a> Parser<'a> {
    fn peek(&self) -> &Item {
        &self.items[self.at]
    }
    fn next(&mut self) -> Item {
        let it = self.items[self.at].clone();
        if self.at + 1 < self.items.len() {
            self.at += 1;
        }
        it
    }
    fn skip_space(&mut self) {
        while self.peek().tok == Tok::Space {
            self.next();
        }
    }
    fn err(&self, pos: usize, msg: impl std::fmt::Display) -> Error {
        parse_err(self.src, pos, msg)
    }

    /// Nodes up to `{{end}}`, `{{else}}` or the end of input.
    fn list(&mut self) -> Result<(Vec<Node>, Stop), Error> {
        let mut nodes = Vec::new();
        loop {
            let it = self.next();
            match it.tok {
                Tok::Eof => return Ok((nodes, Stop::Eof)),
                Tok::Text(t) => nodes.push(Node::Text(t)),
                Tok::Left => {
                    self.skip_space();
                    let kw = match &self.peek().tok {
                        Tok::Ident(k) => k.clone(),
                        _ => String::new(),
                    };
                    match kw.as_str() {
                        "end" => {
                            self.next();
                            self.expect_right("end")?;
                            return Ok((nodes, Stop::End));
                        }
                        "else" => {
                            let pos = self.next().pos;
                            return Ok((nodes, Stop::Else(pos)));
                        }
                        "if" | "range" | "with" => {
                            self.next();
                            nodes.push(self.control(&kw)?);
                        }
                        "define" | "template" | "block" | "break" | "continue" => {
                            return Err(self.err(it.pos, format!("{{{{{kw}}}}} is not supported")));
                        }
                        _ => {
                            let pipe = self.pipeline("command", true)?;
                            nodes.push(Node::Action(pipe));
                        }
                    }
                }
                other => return Err(self.err(it.pos, format!("unexpected {other:?}"))),
            }
        }
    }

    fn expect_right(&mut self, ctx: &str) -> Result<(), Error> {
        self.skip_space();
        let it = self.next();
        if it.tok != Tok::Right {
            return Err(self.err(it.pos, format!("unexpected {} in {ctx}", describe(&it.tok))));
        }
        Ok(())
    }

    fn control(&mut self, kw: &str) -> Result<Node, Error> {
        let depth = self.vars.len();
        let pipe = self.pipeline(kw, kw != "if")?;
        let (body, end) = self.list()?;
        let els = match end {
            Stop::Eof => return Err(self.err(self.src.len(), "unexpected EOF")),
            Stop::End => None,
            Stop::Else(pos) => {
                self.skip_space();
                // `{{else if ...}}` / `{{else with ...}}`: the rest is a nested control whose
                // `{{end}}` ends this one too.
                let nested = match &self.peek().tok {
                    Tok::Ident(k) if (k == "if" && kw == "if") || (k == "with" && kw == "with") => {
                        Some(k.clone())
                    }
                    _ => None,
                };
                if let Some(k) = nested {
                    self.next();
                    let node = self.control(&k)?;
                    Some(vec![node])
                } else {
                    self.expect_right("else")
                        .map_err(|_| self.err(pos, "unexpected token in else"))?;
                    let (els, end) = self.list()?;
                    match end {
                        Stop::End => Some(els),
                        Stop::Eof => return Err(self.err(self.src.len(), "unexpected EOF")),
                        Stop::Else(p) => return Err(self.err(p, "expected end; found {{else}}")),
                    }
                }
            }
        };
        self.vars.truncate(depth);
        Ok(match kw {
            "if" => Node::If(pipe, body, els),
            "range" => Node::Range(pipe, body, els),
            _ => Node::With(pipe, body, els),
        })
    }

    /// A pipeline up to `}}` (or `)` when `ctx` is "parenthesized pipeline").
    fn pipeline(&mut self, ctx: &str, decl_ok: bool) -> Result<Pipe, Error> {
        let mut pipe = Pipe {
            decl: vec![],
            assign: false,
            cmds: vec![],
        };
        self.skip_space();
        // Declarations: `$x :=`, `$x =`, `$i, $v :=`.
        if decl_ok {
            let save = self.at;
            let mut names = vec![];
            loop {
                self.skip_space();
                match self.peek().tok.clone() {
                    Tok::Var(v) => {
                        self.next();
                        names.push(v);
                    }
                    _ => break,
                }
                self.skip_space();
                match self.peek().tok {
                    Tok::Comma if ctx == "range" && names.len() == 1 => {
                        self.next();
                    }
                    Tok::Declare | Tok::Assign => {
                        pipe.assign = self.next().tok == Tok::Assign;
                        pipe.decl = std::mem::take(&mut names);
                        break;
                    }
                    _ => break,
                }
            }
            if pipe.decl.is_empty() {
                self.at = save;
            } else if !pipe.assign {
                self.vars.extend(pipe.decl.iter().cloned());
            }
        }
        let end = if ctx == "parenthesized pipeline" {
            Tok::RParen
        } else {
            Tok::Right
        };
        loop {
            self.skip_space();
            let it = self.peek().clone();
            if it.tok == end {
                self.next();
                break;
            }
            match it.tok {
                Tok::Pipe if !pipe.cmds.is_empty() => {
                    self.next();
                }
                Tok::Eof => return Err(self.err(it.pos, "unclosed action")),
                _ => pipe.cmds.push(self.command(&end)?),
            }
        }
        if pipe.cmds.is_empty() {
            return Err(self.err(
                self.items[self.at.saturating_sub(1)].pos,
                format!("missing value for {ctx}"),
            ));
        }
        Ok(pipe)
    }

    fn command(&mut self, end: &Tok) -> Result<Cmd, Error> {
        let pos = self.peek().pos;
        let mut args = vec![];
        let mut last = pos;
        loop {
            self.skip_space();
            let it = self.peek().clone();
            if it.tok == *end || it.tok == Tok::Pipe {
                break;
            }
            let arg = self.operand()?;
            last = arg.pos + arg.text.len();
            args.push(arg);
        }
        if args.is_empty() {
            return Err(self.err(pos, "empty command"));
        }
        Ok(Cmd {
            args,
            pos,
            text: self.src[pos..last].to_string(),
        })
    }

    fn operand(&mut self) -> Result<Arg, Error> {
        let it = self.next();
        let pos = it.pos;
        let term = match it.tok {
            Tok::Dot => Term::Dot,
            Tok::Field(f) => Term::Field(vec![f]),
            Tok::Var(v) => {
                if !self.vars.contains(&v) && v != "$" {
                    return Err(self.err(pos, format!("undefined variable \"{v}\"")));
                }
                Term::Var(v, vec![])
            }
            Tok::Str(s) => Term::Literal(Value::Str(s)),
            Tok::Num(n) => Term::Literal(
                parse_number(&n)
                    .ok_or_else(|| self.err(pos, format!("bad number syntax: \"{n}\"")))?,
            ),
            Tok::Ident(id) => match id.as_str() {
                "true" => Term::Literal(Value::Bool(true)),
                "false" => Term::Literal(Value::Bool(false)),
                "nil" => Term::Nil,
                _ if FUNCS.contains(&id.as_str()) => Term::Ident(id),
                _ => return Err(self.err(pos, format!("function \"{id}\" not defined"))),
            },
            Tok::LParen => {
                let p = self.pipeline("parenthesized pipeline", true)?;
                Term::Paren(Box::new(p), vec![])
            }
            other => {
                return Err(self.err(pos, format!("unexpected {} in operand", describe(&other))))
            }
        };
        // Fields chained right after the term: `.A.B`, `$x.A`, `(pipe).A`.
        let mut chain = vec![];
        while let Tok::Field(f) = &self.peek().tok {
            chain.push(f.clone());
            self.next();
        }
        let term = match term {
            Term::Field(mut f) => {
                f.extend(chain);
                Term::Field(f)
            }
            Term::Var(v, _) => Term::Var(v, chain),
            Term::Paren(p, _) => Term::Paren(p, chain),
            t if chain.is_empty() => t,
            _ => return Err(self.err(pos, "unexpected . after term")),
        };
        let end = self.items[self.at].pos;
        let end = if self.items[self.at.saturating_sub(1)].tok == Tok::RParen || end > pos {
            // The text of this operand: up to where the next token starts.
            end
        } else {
            self.src.len()
        };
        Ok(Arg {
            term,
            pos,
            text: self.src[pos..end].trim_end().to_string(),
        })
    }
}

fn describe(t: &Tok) -> String {
    match t {
        Tok::Right => "\"}}\"".into(),
        Tok::RParen => "\")\"".into(),
        Tok::Pipe => "\"|\"".into(),
        Tok::Eof => "EOF".into(),
        Tok::Declare => "\":=\"".into(),
        Tok::Assign => "\"=\"".into(),
        Tok::Comma => "\",\"".into(),
        Tok::Ident(i) => format!("<{i}>"),
        other => format!("{other:?}"),
    }
}

fn parse_number(n: &str) -> Option<Value> {
    if let Ok(i) = n.parse::<i64>() {
        return Some(Value::Int(i));
    }
    if let Some(h) = n.strip_prefix("0x") {
        return i64::from_str_radix(h, 16).ok().map(Value::Int);
    }
    n.parse::<f64>().ok().map(Value::Float)
}

// ---------------------------------------------------------------------------------------------
// Execution

/// A parsed template.
#[derive(Debug)]
pub struct Template {
    src: String,
    root: Vec<Node>,
}

/// Functions replaced for a `table` header, as Docker's `HeaderFunctions`: each returns the
/// header it was given, unchanged.
#[derive(Clone, Copy, PartialEq)]
pub enum Mode {
    Data,
    Header,
}

impl Template {
    pub fn parse(src: &str) -> Result<Template, Error> {
        let items = lex(src)?;
        let mut p = Parser {
            src,
            items,
            at: 0,
            vars: vec![],
        };
        let (root, end) = p.list()?;
        match end {
            Stop::Eof => Ok(Template {
                src: src.into(),
                root,
            }),
            Stop::End => Err(p.err(p.items[p.at.saturating_sub(1)].pos, "unexpected {{end}}")),
            Stop::Else(pos) => Err(p.err(pos, "unexpected {{else}}")),
        }
    }

    pub fn execute(&self, dot: &Value) -> Result<String, Error> {
        self.execute_mode(dot, Mode::Data)
    }

    pub fn execute_mode(&self, dot: &Value, mode: Mode) -> Result<String, Error> {
        let mut ex = Exec {
            src: &self.src,
            out: String::new(),
            vars: vec![("$".into(), dot.clone())],
            mode,
        };
        ex.walk_list(&self.root, dot)?;
        Ok(ex.out)
    }
}

struct Exec<'a> {
    src: &'a str,
    out: String,
    vars: Vec<(String, Value)>,
    mode: Mode,
}

impl Exec<'_> {
    fn err(&self, pos: usize, at: &str, msg: impl std::fmt::Display) -> Error {
        let before = &self.src[..pos.min(self.src.len())];
        let line = 1 + before.matches('\n').count();
        let col = match before.rfind('\n') {
            Some(nl) => pos - nl - 1,
            None => pos,
        };
        Error(format!(
            "template: :{line}:{col}: executing \"\" at <{at}>: {msg}"
        ))
    }

    fn walk_list(&mut self, nodes: &[Node], dot: &Value) -> Result<(), Error> {
        for n in nodes {
            self.walk(n, dot)?;
        }
        Ok(())
    }

    fn scoped(&mut self, nodes: &[Node], dot: &Value) -> Result<(), Error> {
        let depth = self.vars.len();
        let r = self.walk_list(nodes, dot);
        self.vars.truncate(depth);
        r
    }

    fn walk(&mut self, n: &Node, dot: &Value) -> Result<(), Error> {
        match n {
            Node::Text(t) => self.out.push_str(t),
            Node::Action(p) => {
                let v = self.pipe(p, dot)?;
                if p.decl.is_empty() {
                    let _ = write!(self.out, "{v}");
                }
            }
            Node::If(p, body, els) | Node::With(p, body, els) => {
                let depth = self.vars.len();
                let v = self.pipe(p, dot)?;
                if v.truth() {
                    let d = if matches!(n, Node::With(..)) { &v } else { dot };
                    self.scoped(body, &d.clone())?;
                } else if let Some(els) = els {
                    self.scoped(els, dot)?;
                }
                self.vars.truncate(depth);
            }
            Node::Range(p, body, els) => {
                let depth = self.vars.len();
                // The pipeline's value, without its declarations: they are set per element.
                let v = self.cmds(&p.cmds, dot)?;
                let items: Vec<(Value, Value)> = match &v {
                    Value::List(l) => l
                        .iter()
                        .enumerate()
                        .map(|(i, x)| (Value::Int(i as i64), x.clone()))
                        .collect(),
                    Value::Map(m) => m
                        .iter()
                        .map(|(k, x)| (Value::Str(k.clone()), x.clone()))
                        .collect(),
                    Value::Nil | Value::NoValue => vec![],
                    Value::Int(n) => (0..*n).map(|i| (Value::Int(i), Value::Int(i))).collect(),
                    other => {
                        let c = &p.cmds[0];
                        return Err(self.err(
                            c.pos,
                            &c.text,
                            format!("range can't iterate over {other}"),
                        ));
                    }
                };
                if items.is_empty() {
                    if let Some(els) = els {
                        self.scoped(els, dot)?;
                    }
                }
                for (k, x) in items {
                    let inner = self.vars.len();
                    match p.decl.as_slice() {
                        [v] => self.vars.push((v.clone(), x.clone())),
                        [k_name, v] => {
                            self.vars.push((k_name.clone(), k));
                            self.vars.push((v.clone(), x.clone()));
                        }
                        _ => {}
                    }
                    self.scoped(body, &x)?;
                    self.vars.truncate(inner);
                }
                self.vars.truncate(depth);
            }
        }
        Ok(())
    }

    fn pipe(&mut self, p: &Pipe, dot: &Value) -> Result<Value, Error> {
        let v = self.cmds(&p.cmds, dot)?;
        for name in &p.decl {
            if p.assign {
                if let Some(slot) = self.vars.iter_mut().rev().find(|(n, _)| n == name) {
                    slot.1 = v.clone();
                }
            } else {
                self.vars.push((name.clone(), v.clone()));
            }
        }
        Ok(v)
    }

    fn cmds(&mut self, cmds: &[Cmd], dot: &Value) -> Result<Value, Error> {
        let mut fin: Option<Value> = None;
        for c in cmds {
            fin = Some(self.command(c, dot, fin)?);
        }
        Ok(fin.unwrap_or(Value::NoValue))
    }

    fn command(&mut self, c: &Cmd, dot: &Value, fin: Option<Value>) -> Result<Value, Error> {
        let first = &c.args[0];
        match &first.term {
            Term::Ident(name) => return self.call(c, name, dot, fin),
            // A method with arguments: Docker's `.Label "key"`.
            Term::Field(chain) if c.args.len() > 1 || fin.is_some() => {
                let (last, head) = chain.split_last().expect("a field has a name");
                let recv = self.chain(dot, head, first)?;
                let mut args = vec![];
                for a in &c.args[1..] {
                    args.push(self.arg(a, dot)?);
                }
                args.extend(fin);
                return self.method(&recv, last, &args, first);
            }
            _ => {}
        }
        if c.args.len() > 1 || fin.is_some() {
            return Err(self.err(
                first.pos,
                &first.text,
                format!("can't give argument to non-function {}", first.text),
            ));
        }
        self.arg(first, dot)
    }

    fn method(&self, recv: &Value, name: &str, args: &[Value], at: &Arg) -> Result<Value, Error> {
        if let Value::Struct(s) = recv {
            if let (Some(labels), "Label") = (&s.labels, name) {
                if self.mode == Mode::Header {
                    return Ok(Value::str("LABEL"));
                }
                return match args {
                    [Value::Str(k)] => Ok(Value::Str(labels.get(k).cloned().unwrap_or_default())),
                    _ => Err(self.err(
                        at.pos,
                        &at.text,
                        format!("wrong number of args for Label: want 1 got {}", args.len()),
                    )),
                };
            }
        }
        Err(self.err(
            at.pos,
            &at.text,
            format!("{name} has arguments but cannot be invoked as function"),
        ))
    }

    fn arg(&mut self, a: &Arg, dot: &Value) -> Result<Value, Error> {
        match &a.term {
            Term::Dot => Ok(dot.clone()),
            Term::Nil => Ok(Value::Nil),
            Term::Literal(v) => Ok(v.clone()),
            Term::Field(chain) => self.chain(dot, chain, a),
            Term::Var(name, chain) => {
                let v = self
                    .vars
                    .iter()
                    .rev()
                    .find(|(n, _)| n == name)
                    .map(|(_, v)| v.clone())
                    .unwrap_or(Value::NoValue);
                self.chain(&v, chain, a)
            }
            Term::Paren(p, chain) => {
                let v = self.pipe(p, dot)?;
                self.chain(&v, chain, a)
            }
            Term::Ident(name) => {
                let c = Cmd {
                    args: vec![],
                    pos: a.pos,
                    text: a.text.clone(),
                };
                self.call(&c, name, dot, None)
            }
        }
    }

    fn chain(&self, recv: &Value, chain: &[String], at: &Arg) -> Result<Value, Error> {
        let mut v = recv.clone();
        for f in chain {
            v = self.field(&v, f, at)?;
        }
        Ok(v)
    }

    fn field(&self, recv: &Value, name: &str, at: &Arg) -> Result<Value, Error> {
        match recv {
            Value::Struct(s) => {
                if let Some((_, v)) = s.fields.iter().find(|(k, _)| k == name) {
                    return Ok(v.clone());
                }
                if s.labels.is_some() && name == "Label" {
                    return self.method(recv, name, &[], at);
                }
                Err(self.err(
                    at.pos,
                    &at.text,
                    if s.ty.is_empty() {
                        format!("map has no entry for key \"{name}\"")
                    } else {
                        format!("can't evaluate field {name} in type {}", s.ty)
                    },
                ))
            }
            Value::Map(m) => Ok(m.get(name).cloned().unwrap_or(Value::NoValue)),
            Value::Nil | Value::NoValue => Err(self.err(
                at.pos,
                &at.text,
                format!("nil pointer evaluating interface {{}}.{name}"),
            )),
            other => Err(self.err(
                at.pos,
                &at.text,
                format!("can't evaluate field {name} in type {}", other.kind()),
            )),
        }
    }

    fn call(
        &mut self,
        c: &Cmd,
        name: &str,
        dot: &Value,
        fin: Option<Value>,
    ) -> Result<Value, Error> {
        let arg_nodes = c.args.get(1..).unwrap_or_default();
        // `and` and `or` stop at the first argument that decides (Go 1.18).
        if name == "and" || name == "or" {
            let n = arg_nodes.len() + fin.is_some() as usize;
            if n == 0 {
                return Err(self.err(
                    c.pos,
                    &c.text,
                    format!("wrong number of args for {name}: want at least 1 got 0"),
                ));
            }
            let mut last = Value::NoValue;
            for a in arg_nodes {
                last = self.arg(a, dot)?;
                if last.truth() == (name == "or") {
                    return Ok(last);
                }
            }
            return Ok(fin.unwrap_or(last));
        }
        let mut args = vec![];
        for a in arg_nodes {
            args.push(self.arg(a, dot)?);
        }
        args.extend(fin);
        let want = |n: usize| -> Result<(), Error> {
            if args.len() != n {
                return Err(self.err(
                    c.pos,
                    &c.text,
                    format!(
                        "wrong number of args for {name}: want {n} got {}",
                        args.len()
                    ),
                ));
            }
            Ok(())
        };
        let fail = |msg: String| self.err(c.pos, &c.text, format!("error calling {name}: {msg}"));
        let string_arg = |v: &Value, what: &str| -> Result<String, Error> {
            match v {
                Value::Str(s) => Ok(s.clone()),
                other => Err(self.err(
                    c.pos,
                    &c.text,
                    format!(
                        "wrong type for value; expected {what}; got {}",
                        go_type(other)
                    ),
                )),
            }
        };
        // Docker's header functions hand the header through.
        if self.mode == Mode::Header
            && matches!(
                name,
                "json" | "split" | "join" | "title" | "lower" | "upper" | "pad" | "truncate"
            )
        {
            return Ok(args.into_iter().next().unwrap_or(Value::NoValue));
        }
        Ok(match name {
            "not" => {
                want(1)?;
                Value::Bool(!args[0].truth())
            }
            "len" => {
                want(1)?;
                Value::Int(match &args[0] {
                    Value::Str(s) => s.len(),
                    Value::List(l) => l.len(),
                    Value::Map(m) => m.len(),
                    other => return Err(fail(format!("len of type {}", go_type(other)))),
                } as i64)
            }
            "index" => {
                if args.is_empty() {
                    want(1)?;
                }
                let mut v = args[0].clone();
                for i in &args[1..] {
                    v = match (&v, i) {
                        (Value::List(l), Value::Int(n)) => {
                            if *n < 0 || *n as usize >= l.len() {
                                return Err(fail(format!("index out of range: {n}")));
                            }
                            l[*n as usize].clone()
                        }
                        (Value::Str(s), Value::Int(n)) => {
                            if *n < 0 || *n as usize >= s.len() {
                                return Err(fail(format!("index out of range: {n}")));
                            }
                            Value::Int(s.as_bytes()[*n as usize] as i64)
                        }
                        // A missing key is the element's zero value: berth's maps hold strings.
                        (Value::Map(m), Value::Str(k)) => {
                            m.get(k).cloned().unwrap_or(Value::Str(String::new()))
                        }
                        (Value::Nil | Value::NoValue, _) => {
                            return Err(fail("index of untyped nil".into()))
                        }
                        (Value::List(_) | Value::Str(_), other) => {
                            return Err(fail(format!(
                                "cannot index slice/array with type {}",
                                go_type(other)
                            )))
                        }
                        (Value::Map(_), other) => {
                            return Err(fail(format!(
                                "value has type {}; should be string",
                                go_type(other)
                            )))
                        }
                        (other, _) => {
                            return Err(fail(format!(
                                "can't index item of type {}",
                                go_type(other)
                            )))
                        }
                    };
                }
                v
            }
            "print" => Value::Str(sprint(&args)),
            "println" => {
                let mut s = args
                    .iter()
                    .map(|a| a.to_string())
                    .collect::<Vec<_>>()
                    .join(" ");
                s.push('\n');
                Value::Str(s)
            }
            "printf" => {
                if args.is_empty() {
                    want(1)?;
                }
                let f = string_arg(&args[0], "string")?;
                Value::Str(sprintf(&f, &args[1..]))
            }
            "eq" | "ne" | "lt" | "le" | "gt" | "ge" => {
                if args.len() < 2 {
                    return Err(self.err(
                        c.pos,
                        &c.text,
                        format!("wrong number of args for {name}: want 2 got {}", args.len()),
                    ));
                }
                if name == "eq" {
                    let mut any = false;
                    for b in &args[1..] {
                        any |=
                            compare(&args[0], b).map_err(&fail)? == Some(std::cmp::Ordering::Equal);
                    }
                    Value::Bool(any)
                } else {
                    want(2)?;
                    let ord = compare(&args[0], &args[1]).map_err(&fail)?;
                    use std::cmp::Ordering::*;
                    Value::Bool(match (name, ord) {
                        ("ne", o) => o != Some(Equal),
                        (_, None) => return Err(fail("invalid type for comparison".into())),
                        ("lt", Some(o)) => o == Less,
                        ("le", Some(o)) => o != Greater,
                        ("gt", Some(o)) => o == Greater,
                        (_, Some(o)) => o != Less,
                    })
                }
            }
            "json" => {
                want(1)?;
                Value::Str(serde_json::to_string(&args[0].to_json()).unwrap_or_default())
            }
            "join" => {
                want(2)?;
                let sep = string_arg(&args[1], "string")?;
                let parts: Vec<String> = match &args[0] {
                    Value::List(l) => l.iter().map(|x| x.to_string()).collect(),
                    other => {
                        return Err(self.err(
                            c.pos,
                            &c.text,
                            format!(
                                "wrong type for value; expected []string; got {}",
                                go_type(other)
                            ),
                        ))
                    }
                };
                Value::Str(parts.join(&sep))
            }
            "split" => {
                want(2)?;
                let s = string_arg(&args[0], "string")?;
                let sep = string_arg(&args[1], "string")?;
                Value::List(if sep.is_empty() {
                    s.chars().map(|c| Value::Str(c.into())).collect()
                } else {
                    s.split(sep.as_str()).map(Value::str).collect()
                })
            }
            "lower" | "upper" | "title" => {
                want(1)?;
                let s = string_arg(&args[0], "string")?;
                Value::Str(match name {
                    "lower" => s.to_lowercase(),
                    "upper" => s.to_uppercase(),
                    _ => title(&s),
                })
            }
            "pad" => {
                want(3)?;
                let s = string_arg(&args[0], "string")?;
                let (Value::Int(p), Value::Int(q)) = (&args[1], &args[2]) else {
                    return Err(self.err(c.pos, &c.text, "wrong type for value; expected int"));
                };
                if s.is_empty() {
                    Value::Str(s)
                } else {
                    Value::Str(format!(
                        "{}{s}{}",
                        " ".repeat(*p as usize),
                        " ".repeat(*q as usize)
                    ))
                }
            }
            "truncate" => {
                want(2)?;
                let s = string_arg(&args[0], "string")?;
                let Value::Int(n) = args[1] else {
                    return Err(self.err(c.pos, &c.text, "wrong type for value; expected int"));
                };
                // Docker's truncateWithLength cuts bytes: `source[:length]`.
                let n = n.max(0) as usize;
                Value::Str(if s.len() < n {
                    s
                } else {
                    s.get(..n).unwrap_or(&s).to_string()
                })
            }
            other => {
                return Err(self.err(c.pos, &c.text, format!("function \"{other}\" not defined")))
            }
        })
    }
}

fn go_type(v: &Value) -> &'static str {
    match v {
        Value::List(_) => "[]interface {}",
        Value::Map(_) => "map[string]interface {}",
        Value::Nil | Value::NoValue => "<nil>",
        other => other.kind(),
    }
}

/// fmt.Sprint: a space between operands when neither is a string.
fn sprint(args: &[Value]) -> String {
    let mut s = String::new();
    for (i, a) in args.iter().enumerate() {
        if i > 0 && !matches!(a, Value::Str(_)) && !matches!(args[i - 1], Value::Str(_)) {
            s.push(' ');
        }
        let _ = write!(s, "{a}");
    }
    s
}

/// fmt.Sprintf for the verbs templates use: %v %s %d %q %t %x %f %%, with flags `-`, `0` and
/// a width (and a precision for %f and %s).
fn sprintf(f: &str, args: &[Value]) -> String {
    let mut out = String::new();
    let mut args = args.iter();
    let mut chars = f.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let mut left = false;
        let mut zero = false;
        while let Some(&fl) = chars.peek() {
            match fl {
                '-' => left = true,
                '0' => zero = true,
                '+' | ' ' | '#' => {}
                _ => break,
            }
            chars.next();
        }
        let mut width = String::new();
        while let Some(&d) = chars.peek().filter(|d| d.is_ascii_digit()) {
            width.push(d);
            chars.next();
        }
        let mut prec: Option<usize> = None;
        if chars.peek() == Some(&'.') {
            chars.next();
            let mut p = String::new();
            while let Some(&d) = chars.peek().filter(|d| d.is_ascii_digit()) {
                p.push(d);
                chars.next();
            }
            prec = Some(p.parse().unwrap_or(0));
        }
        let Some(verb) = chars.next() else {
            out.push_str("%!(NOVERB)");
            break;
        };
        if verb == '%' {
            out.push('%');
            continue;
        }
        let Some(a) = args.next() else {
            let _ = write!(out, "%!{verb}(MISSING)");
            continue;
        };
        let s = match (verb, a) {
            ('d', Value::Int(i)) => i.to_string(),
            ('x', Value::Int(i)) => format!("{i:x}"),
            ('x', Value::Str(s)) => s.bytes().map(|b| format!("{b:02x}")).collect(),
            ('f', Value::Float(x)) => format!("{x:.*}", prec.unwrap_or(6)),
            ('f', Value::Int(i)) => format!("%!f(int={i})"),
            ('q', Value::Str(s)) => go_quote(s),
            ('s', v) => {
                let s = v.to_string();
                match prec {
                    Some(p) => s.chars().take(p).collect(),
                    None => s,
                }
            }
            ('v' | 't', v) => v.to_string(),
            (verb, v) => format!("%!{verb}({}={v})", go_type(v)),
        };
        let w: usize = width.parse().unwrap_or(0);
        let n = s.chars().count();
        if n >= w {
            out.push_str(&s);
        } else if left {
            out.push_str(&s);
            out.push_str(&" ".repeat(w - n));
        } else {
            out.push_str(&(if zero { "0" } else { " " }).repeat(w - n));
            out.push_str(&s);
        }
    }
    for extra in args {
        let _ = write!(out, "%!(EXTRA {}={extra})", go_type(extra));
    }
    out
}

/// strconv.Quote: Go's double-quoted form, as Compose and Docker quote a command.
pub fn go_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            '\x07' => out.push_str("\\a"),
            '\x08' => out.push_str("\\b"),
            '\x0c' => out.push_str("\\f"),
            '\x0b' => out.push_str("\\v"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// strings.Title: the first letter of each word upper-cased.
fn title(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut prev_letter = false;
    for c in s.chars() {
        if !prev_letter {
            out.extend(c.to_uppercase());
        } else {
            out.push(c);
        }
        prev_letter = c.is_alphanumeric() || c == '_' || c == '\'';
    }
    out
}

/// Go's template comparison: basic kinds only; ints and floats compare across.
fn compare(a: &Value, b: &Value) -> Result<Option<std::cmp::Ordering>, String> {
    Ok(match (a, b) {
        (Value::Int(x), Value::Int(y)) => Some(x.cmp(y)),
        (Value::Int(x), Value::Float(y)) => (*x as f64).partial_cmp(y),
        (Value::Float(x), Value::Int(y)) => x.partial_cmp(&(*y as f64)),
        (Value::Float(x), Value::Float(y)) => x.partial_cmp(y),
        (Value::Str(x), Value::Str(y)) => Some(x.cmp(y)),
        (Value::Bool(x), Value::Bool(y)) => (x == y).then_some(std::cmp::Ordering::Equal),
        (Value::Nil, Value::Nil) => Some(std::cmp::Ordering::Equal),
        (Value::NoValue, _) | (_, Value::NoValue) => {
            return Err("invalid type for comparison".into())
        }
        (x, y) if x.kind() != y.kind() => return Err("incompatible types for comparison".into()),
        _ => return Err("invalid type for comparison".into()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx() -> Value {
        let mut labels = BTreeMap::new();
        labels.insert("com.docker.compose.service".to_string(), "web".to_string());
        labels.insert("a".to_string(), "1".to_string());
        Value::Struct(Rc::new(Struct {
            ty: "*formatter.ContainerContext".into(),
            fields: vec![
                ("ID".into(), Value::str("0123456789ab")),
                ("Names".into(), Value::str("p-web-1")),
                ("State".into(), Value::str("running")),
                ("Count".into(), Value::Int(3)),
                (
                    "Args".into(),
                    Value::List(vec![Value::str("-c"), Value::str("sleep 1")]),
                ),
                ("Empty".into(), Value::List(vec![])),
                (
                    "Labels".into(),
                    Value::Map(
                        labels
                            .iter()
                            .map(|(k, v)| (k.clone(), Value::str(v)))
                            .collect(),
                    ),
                ),
                (
                    "Nested".into(),
                    Value::strct("*x.Inner", vec![("Status", Value::str("ok"))]),
                ),
            ],
            labels: Some(labels),
        }))
    }

    fn run(t: &str) -> Result<String, Error> {
        Template::parse(t)?.execute(&ctx())
    }

    fn ok(t: &str) -> String {
        run(t).unwrap_or_else(|e| panic!("{t}: {e}"))
    }

    #[test]
    fn fields_and_nesting() {
        assert_eq!(ok("{{.Names}}"), "p-web-1");
        assert_eq!(ok("id={{.ID}} {{.Nested.Status}}"), "id=0123456789ab ok");
        assert_eq!(ok("{{.Labels.a}}"), "1");
        // A missing map key is Go's <no value>; a missing struct field an error.
        assert_eq!(ok("{{.Labels.nope}}"), "<no value>");
        assert_eq!(
            run("{{.Nope}}").unwrap_err().0,
            "template: :1:2: executing \"\" at <.Nope>: can't evaluate field Nope in type *formatter.ContainerContext"
        );
        assert_eq!(
            run("x\n {{.Nested.Nope}}").unwrap_err().0,
            "template: :2:3: executing \"\" at <.Nested.Nope>: can't evaluate field Nope in type *x.Inner"
        );
    }

    #[test]
    fn printing_as_go() {
        assert_eq!(ok("{{.Args}}"), "[-c sleep 1]");
        assert_eq!(ok("{{.Labels}}"), "map[a:1 com.docker.compose.service:web]");
        assert_eq!(ok("{{.Count}} {{nil}} {{true}}"), "3 <nil> true");
        assert_eq!(
            ok("{{json .Labels}}"),
            r#"{"a":"1","com.docker.compose.service":"web"}"#
        );
        assert_eq!(ok("{{json .Args}}"), r#"["-c","sleep 1"]"#);
        assert_eq!(ok("{{json .Nested}}"), r#"{"Status":"ok"}"#);
        assert_eq!(go_float(1e21), "1e+21");
        assert_eq!(go_float(2.5), "2.5");
    }

    #[test]
    fn functions() {
        assert_eq!(ok("{{.Label \"com.docker.compose.service\"}}"), "web");
        assert_eq!(ok("{{\"a\" | .Label}}"), "1");
        assert_eq!(ok("{{join .Args \",\"}}"), "-c,sleep 1");
        assert_eq!(ok("{{index .Args 1}}"), "sleep 1");
        assert_eq!(ok("{{index .Labels \"a\"}}"), "1");
        assert_eq!(
            ok("{{upper .State}} {{lower \"AB\"}} {{title \"hello world\"}}"),
            "RUNNING ab Hello World"
        );
        assert_eq!(ok("{{split \"a,b\" \",\"}}"), "[a b]");
        assert_eq!(ok("{{len .Args}}"), "2");
        assert_eq!(ok("{{println .Names}}"), "p-web-1\n");
        assert_eq!(ok("{{print 1 2 \"x\" 3}}"), "1 2x3");
        assert_eq!(
            ok("{{printf \"%-6s|%3d|%q\" .State .Count .Names}}"),
            "running|  3|\"p-web-1\""
        );
        assert_eq!(ok("{{.State | printf \"%s!\"}}"), "running!");
        assert_eq!(ok("{{pad .State 1 2}}|"), " running  |");
        assert_eq!(ok("{{truncate .ID 4}}"), "0123");
        assert_eq!(
            run("{{index .Args 5}}").unwrap_err().0,
            "template: :1:2: executing \"\" at <index .Args 5>: error calling index: index out of range: 5"
        );
        assert_eq!(
            run("{{nope .Args}}").unwrap_err().0,
            "template: :1: function \"nope\" not defined"
        );
    }

    #[test]
    fn control_flow() {
        assert_eq!(
            ok("{{if eq .State \"running\"}}up{{else}}down{{end}}"),
            "up"
        );
        assert_eq!(
            ok("{{if eq .State \"x\"}}x{{else if eq .Count 3}}three{{else}}no{{end}}"),
            "three"
        );
        assert_eq!(ok("{{if and .Args (gt .Count 2)}}y{{end}}"), "y");
        assert_eq!(ok("{{if or .Empty .Count}}y{{else}}n{{end}}"), "y");
        assert_eq!(
            ok("{{or .Empty \"dflt\"}} {{and .Count .Empty}}"),
            "dflt []"
        );
        assert_eq!(ok("{{range .Args}}[{{.}}]{{end}}"), "[-c][sleep 1]");
        assert_eq!(
            ok("{{range $i, $a := .Args}}{{$i}}={{$a}} {{end}}"),
            "0=-c 1=sleep 1 "
        );
        assert_eq!(
            ok("{{range $k, $v := .Labels}}{{$k}}:{{$v}};{{end}}"),
            "a:1;com.docker.compose.service:web;"
        );
        assert_eq!(ok("{{range .Empty}}x{{else}}none{{end}}"), "none");
        assert_eq!(ok("{{with .Nested}}{{.Status}}{{end}}"), "ok");
        assert_eq!(
            ok("{{$n := .Names}}{{range .Args}}{{$n}}{{end}}"),
            "p-web-1p-web-1"
        );
        assert_eq!(
            ok("{{range .Args}}{{$.ID}}{{end}}"),
            "0123456789ab0123456789ab"
        );
        assert_eq!(ok("a  {{- .Count -}}  b {{/* note */}}c"), "a3b c");
        assert_eq!(ok("{{(index .Args 0)}}"), "-c");
    }

    #[test]
    fn parse_errors() {
        assert_eq!(
            Template::parse("{{.Names").unwrap_err().0,
            "template: :1: unclosed action"
        );
        assert_eq!(
            Template::parse("{{if .A}}x").unwrap_err().0,
            "template: :1: unexpected EOF"
        );
        assert_eq!(
            Template::parse("{{end}}").unwrap_err().0,
            "template: :1: unexpected {{end}}"
        );
        assert!(Template::parse("{{$x}}").is_err());
    }

    #[test]
    fn header_mode_hands_headers_through() {
        let t = Template::parse("{{upper .Names}}\t{{.Label \"x\"}}").unwrap();
        let h = Value::strct("", vec![("Names", Value::str("NAMES"))]);
        let h = match h {
            Value::Struct(s) => Value::Struct(Rc::new(Struct {
                labels: Some(BTreeMap::new()),
                ..(*s).clone()
            })),
            v => v,
        };
        assert_eq!(t.execute_mode(&h, Mode::Header).unwrap(), "NAMES\tLABEL");
    }

    #[test]
    fn quoting_as_strconv() {
        assert_eq!(go_quote("sh -c \"x\"\n"), r#""sh -c \"x\"\n""#);
    }
}
