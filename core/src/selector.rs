//! Label and field selectors in the API's query syntax, parsed as apimachinery parses them, so
//! a selector the API server would refuse is refused before any request, in its words.

use std::collections::BTreeMap;

/// What is wrong with a selector, in the words of the API server's 400 answer.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct SelectorSyntaxError(String);

/// A label selector in the API's query syntax (`app=web,tier in (a,b),!canary`), parsed as
/// apimachinery parses it: every requirement must hold.
///
/// ```
/// use kle_core::selectors::LabelSelector;
/// use std::collections::BTreeMap;
///
/// let selector = LabelSelector::parse("app in (web,api),!canary")?;
/// let labels = BTreeMap::from([("app".to_owned(), "web".to_owned())]);
/// assert!(selector.matches(Some(&labels)));
/// assert!(LabelSelector::parse("app = = web").is_err());
/// # Ok::<(), kle_core::selectors::SelectorSyntaxError>(())
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LabelSelector(Vec<Requirement>);

#[derive(Clone, Debug, PartialEq, Eq)]
struct Requirement {
    key: String,
    op: Op,
    values: Vec<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Op {
    Exists,
    DoesNotExist,
    Equals,
    NotEquals,
    In,
    NotIn,
    GreaterThan,
    LessThan,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Token {
    Identifier(String),
    Bang,
    Equals,
    DoubleEquals,
    NotEquals,
    In,
    NotIn,
    GreaterThan,
    LessThan,
    OpenParen,
    CloseParen,
    Comma,
    End,
}

impl Token {
    fn literal(&self) -> &str {
        match self {
            Token::Identifier(id) => id,
            Token::Bang => "!",
            Token::Equals => "=",
            Token::DoubleEquals => "==",
            Token::NotEquals => "!=",
            Token::In => "in",
            Token::NotIn => "notin",
            Token::GreaterThan => ">",
            Token::LessThan => "<",
            Token::OpenParen => "(",
            Token::CloseParen => ")",
            Token::Comma => ",",
            Token::End => "",
        }
    }
}

fn lex(input: &str) -> Vec<Token> {
    const SPECIAL: &[char] = &['=', '!', '(', ')', ',', '<', '>'];
    let mut tokens = Vec::new();
    let mut rest = input;
    loop {
        rest = rest.trim_start();
        let Some(first) = rest.chars().next() else {
            break;
        };
        let (token, len) = match first {
            '!' if rest.starts_with("!=") => (Token::NotEquals, 2),
            '!' => (Token::Bang, 1),
            '=' if rest.starts_with("==") => (Token::DoubleEquals, 2),
            '=' => (Token::Equals, 1),
            '(' => (Token::OpenParen, 1),
            ')' => (Token::CloseParen, 1),
            ',' => (Token::Comma, 1),
            '<' => (Token::LessThan, 1),
            '>' => (Token::GreaterThan, 1),
            _ => {
                let len = rest
                    .find(|c: char| c.is_whitespace() || SPECIAL.contains(&c))
                    .unwrap_or(rest.len());
                let word = &rest[..len];
                let token = match word {
                    "in" => Token::In,
                    "notin" => Token::NotIn,
                    _ => Token::Identifier(word.to_owned()),
                };
                (token, len)
            }
        };
        tokens.push(token);
        rest = &rest[len..];
    }
    tokens.push(Token::End);
    tokens
}

struct Parser {
    tokens: Vec<Token>,
    position: usize,
}

impl Parser {
    fn peek(&self) -> &Token {
        self.tokens.get(self.position).unwrap_or(&Token::End)
    }

    fn next(&mut self) -> Token {
        let token = self.peek().clone();
        self.position += 1;
        token
    }

    /// In a value position `in` and `notin` are plain identifiers.
    fn next_value(&mut self) -> Token {
        match self.next() {
            Token::In => Token::Identifier("in".to_owned()),
            Token::NotIn => Token::Identifier("notin".to_owned()),
            other => other,
        }
    }

    fn selector(&mut self) -> Result<LabelSelector, String> {
        let mut requirements = Vec::new();
        loop {
            match self.peek() {
                Token::Identifier(_) | Token::Bang => {
                    let requirement = self
                        .requirement()
                        .map_err(|e| format!("unable to parse requirement: {e}"))?;
                    requirements.push(requirement);
                    match self.next() {
                        Token::End => return Ok(LabelSelector(requirements)),
                        Token::Comma => {
                            let after = self.peek();
                            if !matches!(after, Token::Identifier(_) | Token::Bang) {
                                return Err(format!("found '{}', expected: identifier after ','", after.literal()));
                            }
                        }
                        other => {
                            return Err(format!("found '{}', expected: ',' or 'end of string'", other.literal()));
                        }
                    }
                }
                Token::End => return Ok(LabelSelector(requirements)),
                other => {
                    return Err(format!(
                        "found '{}', expected: !, identifier, or 'end of string'",
                        other.literal()
                    ));
                }
            }
        }
    }

    fn requirement(&mut self) -> Result<Requirement, String> {
        let negated = *self.peek() == Token::Bang;
        if negated {
            self.next();
        }
        let key = match self.next() {
            Token::Identifier(key) => key,
            other => return Err(format!("found '{}', expected: identifier", other.literal())),
        };
        validate_key(&key)?;
        if negated {
            return Ok(Requirement {
                key,
                op: Op::DoesNotExist,
                values: Vec::new(),
            });
        }
        if matches!(self.peek(), Token::Comma | Token::End) {
            return Ok(Requirement {
                key,
                op: Op::Exists,
                values: Vec::new(),
            });
        }
        let op = match self.next() {
            Token::Equals | Token::DoubleEquals => Op::Equals,
            Token::NotEquals => Op::NotEquals,
            Token::In => Op::In,
            Token::NotIn => Op::NotIn,
            Token::GreaterThan => Op::GreaterThan,
            Token::LessThan => Op::LessThan,
            other => {
                return Err(format!(
                    "found '{}', expected: in, notin, =, ==, !=, gt, lt",
                    other.literal()
                ));
            }
        };
        let values = match op {
            Op::In | Op::NotIn => self.value_set()?,
            _ => vec![self.exact_value()?],
        };
        if matches!(op, Op::In | Op::NotIn) && values.is_empty() {
            return Err("values: Invalid value: []: for 'in', 'notin' operators, values set can't be empty".to_owned());
        }
        if matches!(op, Op::GreaterThan | Op::LessThan) && values[0].parse::<i64>().is_err() {
            return Err(format!(
                "values[0]: Invalid value: \"{}\": for 'Gt', 'Lt' operators, the value must be an integer",
                values[0]
            ));
        }
        for (i, value) in values.iter().enumerate() {
            validate_value(i, &key, value)?;
        }
        Ok(Requirement { key, op, values })
    }

    fn exact_value(&mut self) -> Result<String, String> {
        if matches!(self.peek(), Token::Comma | Token::End) {
            return Ok(String::new());
        }
        match self.next_value() {
            Token::Identifier(value) => Ok(value),
            other => Err(format!("found '{}', expected: identifier", other.literal())),
        }
    }

    fn value_set(&mut self) -> Result<Vec<String>, String> {
        let open = self.next();
        if open != Token::OpenParen {
            return Err(format!("found '{}', expected: '('", open.literal()));
        }
        let mut values = Vec::new();
        if *self.peek() == Token::CloseParen {
            self.next();
            return Ok(values);
        }
        loop {
            match self.next_value() {
                Token::Identifier(value) => values.push(value),
                // `(a,,b)` and `(a,)` carry empty values, as in apimachinery.
                Token::Comma => {
                    values.push(String::new());
                    continue;
                }
                Token::CloseParen => {
                    values.push(String::new());
                    return Ok(values);
                }
                other => {
                    return Err(format!("found '{}', expected: ',', ')' or identifier", other.literal()));
                }
            }
            match self.next() {
                Token::Comma => {}
                Token::CloseParen => return Ok(values),
                other => return Err(format!("found '{}', expected: ',' or ')'", other.literal())),
            }
        }
    }
}

const NAME_PATTERN: &str = "([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]";

fn is_label_name(s: &str) -> bool {
    let alnum = |c: Option<char>| c.is_some_and(|c| c.is_ascii_alphanumeric());
    s.len() <= 63
        && alnum(s.chars().next())
        && alnum(s.chars().last())
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

fn is_dns_subdomain(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 253
        && s.split('.').all(|part| {
            !part.is_empty()
                && part
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
                && !part.starts_with('-')
                && !part.ends_with('-')
        })
}

fn validate_key(key: &str) -> Result<(), String> {
    let (prefix, name) = match key.split_once('/') {
        Some((prefix, name)) => (Some(prefix), name),
        None => (None, key),
    };
    if let Some(prefix) = prefix
        && !is_dns_subdomain(prefix)
    {
        return Err(format!(
            "key: Invalid value: \"{key}\": prefix part a lowercase RFC 1123 subdomain must consist of lower case \
             alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character"
        ));
    }
    if !is_label_name(name) {
        return Err(format!(
            "key: Invalid value: \"{key}\": name part must consist of alphanumeric characters, '-', '_' or '.', and \
             must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex \
             used for validation is '{NAME_PATTERN}')"
        ));
    }
    Ok(())
}

fn validate_value(index: usize, key: &str, value: &str) -> Result<(), String> {
    if value.is_empty() || is_label_name(value) {
        return Ok(());
    }
    Err(format!(
        "values[{index}][{key}]: Invalid value: \"{value}\": a valid label must be an empty string or consist of \
         alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. \
         'MyValue',  or 'my_value',  or '12345', regex used for validation is '({NAME_PATTERN})?')"
    ))
}

impl LabelSelector {
    /// Parses a label selector.
    ///
    /// # Errors
    /// What is wrong, in the words the API server would answer with (its 400 message).
    pub fn parse(input: &str) -> Result<Self, SelectorSyntaxError> {
        Parser {
            tokens: lex(input),
            position: 0,
        }
        .selector()
        .map_err(SelectorSyntaxError)
    }

    /// Whether it has no requirement (selects everything).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether labels (`None`: a pod without labels) satisfy every requirement.
    pub fn matches(&self, labels: Option<&BTreeMap<String, String>>) -> bool {
        self.0.iter().all(|req| {
            let value = labels.and_then(|labels| labels.get(&req.key));
            let among = |v: &String| req.values.contains(v);
            let compare = |v: &String, wanted: fn(i64, i64) -> bool| {
                let bound = req.values.first().and_then(|b| b.parse::<i64>().ok());
                matches!((v.parse::<i64>().ok(), bound), (Some(v), Some(b)) if wanted(v, b))
            };
            match req.op {
                Op::Exists => value.is_some(),
                Op::DoesNotExist => value.is_none(),
                Op::Equals | Op::In => value.is_some_and(among),
                Op::NotEquals | Op::NotIn => !value.is_some_and(among),
                Op::GreaterThan => value.is_some_and(|v| compare(v, |v, b| v > b)),
                Op::LessThan => value.is_some_and(|v| compare(v, |v, b| v < b)),
            }
        })
    }
}

/// A field selector in the API's query syntax (`spec.nodeName=node-1,status.phase!=Failed`):
/// terms joined by `,`, each `field=value`, `field==value` or `field!=value`, with `\,`, `\=`
/// and `\\` escaping those characters in a value.
///
/// Only the syntax is checked here: which fields a resource supports is the API server's to say.
///
/// ```
/// use kle_core::selectors::FieldSelector;
///
/// let selector = FieldSelector::parse(r"spec.nodeName=node-1,metadata.name!=a\,b")?;
/// let terms: Vec<_> = selector.terms().iter().map(|t| (t.field(), t.equal(), t.value())).collect();
/// assert_eq!(terms, [("spec.nodeName", true, "node-1"), ("metadata.name", false, "a,b")]);
/// assert!(FieldSelector::parse("spec.nodeName").is_err());
/// # Ok::<(), kle_core::selectors::SelectorSyntaxError>(())
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FieldSelector(Vec<FieldTerm>);

/// One `field=value` or `field!=value` of a [`FieldSelector`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldTerm {
    field: String,
    equal: bool,
    value: String,
}

impl FieldTerm {
    /// The field's path (`spec.nodeName`).
    pub fn field(&self) -> &str {
        &self.field
    }

    /// `true` for `=`/`==`, `false` for `!=`.
    pub fn equal(&self) -> bool {
        self.equal
    }

    /// The value, unescaped.
    pub fn value(&self) -> &str {
        &self.value
    }
}

impl FieldSelector {
    /// Parses a field selector.
    ///
    /// # Errors
    /// A term without an operator or field name, or an escape other than `\,`, `\=`, `\\`.
    pub fn parse(input: &str) -> Result<Self, SelectorSyntaxError> {
        let mut terms = Vec::new();
        for term in split_unescaped(input, ',') {
            if term.is_empty() {
                continue;
            }
            let (field, equal, value) = split_term(&term)
                .filter(|(field, _, _)| !field.trim().is_empty())
                .ok_or_else(|| {
                    SelectorSyntaxError(format!("invalid selector: '{input}'; can't understand '{term}'"))
                })?;
            let value = unescape_field_value(&value).map_err(SelectorSyntaxError)?;
            terms.push(FieldTerm { field, equal, value });
        }
        Ok(Self(terms))
    }

    /// The terms, every one of which must hold.
    pub fn terms(&self) -> &[FieldTerm] {
        &self.0
    }

    /// Whether it has no term (selects everything).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// Splits on `separator` where it is not escaped by a backslash, keeping escapes for the next stage.
fn split_unescaped(input: &str, separator: char) -> Vec<String> {
    let mut parts = vec![String::new()];
    let mut escaped = false;
    for c in input.chars() {
        if !escaped && c == separator {
            parts.push(String::new());
            continue;
        }
        escaped = !escaped && c == '\\';
        if let Some(last) = parts.last_mut() {
            last.push(c);
        }
    }
    parts
}

/// Splits `field<op>value` at the first unescaped `!=`, `==` or `=`.
fn split_term(term: &str) -> Option<(String, bool, String)> {
    let mut escaped = false;
    for (i, c) in term.char_indices() {
        if escaped {
            escaped = false;
            continue;
        }
        let rest = &term[i..];
        for (op, equal) in [("!=", false), ("==", true), ("=", true)] {
            if let Some(value) = rest.strip_prefix(op) {
                return Some((term[..i].to_owned(), equal, value.to_owned()));
            }
        }
        escaped = c == '\\';
    }
    None
}

fn unescape_field_value(value: &str) -> Result<String, String> {
    let mut out = String::with_capacity(value.len());
    let mut chars = value.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some(next @ ('\\' | ',' | '=')) => out.push(next),
            Some(next) => {
                return Err(format!("invalid field selector: invalid escape sequence: \\{next}"));
            }
            None => return Err("invalid field selector: unterminated escape sequence".to_owned()),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
    }

    fn selects(selector: &str, pairs: &[(&str, &str)]) -> bool {
        let selector = LabelSelector::parse(selector).expect("selector parses");
        selector.matches(Some(&labels(pairs)))
    }

    #[test]
    fn label_operators_follow_apimachinery() {
        assert!(selects("app=web", &[("app", "web")]));
        assert!(selects("app==web,tier", &[("app", "web"), ("tier", "x")]));
        assert!(!selects("app=web,tier", &[("app", "web")]));
        assert!(selects("app!=web", &[]));
        assert!(selects("!tier", &[("app", "web")]));
        assert!(selects("app in (web, api)", &[("app", "api")]));
        assert!(!selects("app notin (web,api)", &[("app", "api")]));
        assert!(selects("app notin (web,api)", &[]));
        assert!(selects("rank>3,rank<10", &[("rank", "5")]));
        assert!(selects("example.com/team=a-b_c.d", &[("example.com/team", "a-b_c.d")]));
        assert!(selects("", &[]));
    }

    #[test]
    fn malformed_labels_are_rejected_with_the_servers_messages() {
        let error = |s: &str| LabelSelector::parse(s).expect_err("selector is malformed").to_string();
        assert_eq!(error("a=b=c"), "found '=', expected: ',' or 'end of string'");
        assert_eq!(
            error("a b"),
            "unable to parse requirement: found 'b', expected: in, notin, =, ==, !=, gt, lt"
        );
        assert!(error("a=b c").starts_with("found 'c'"));
        assert!(error("a in b").starts_with("unable to parse requirement: found 'b', expected: '('"));
        assert!(error("Bad Key!=x").starts_with("unable to parse requirement"));
        assert!(error("a=b,").starts_with("found '', expected: identifier after ','"));
        assert!(error("a=-bad-").contains("a valid label must be an empty string"));
    }

    #[test]
    fn field_selectors_parse_as_the_api_server_does() {
        let terms = |s: &str| {
            let selector = FieldSelector::parse(s).expect("field selector parses");
            let terms = selector.terms().iter();
            terms
                .map(|t| format!("{}|{}|{}", t.field(), t.equal(), t.value()))
                .collect::<Vec<_>>()
        };
        assert_eq!(terms("spec.nodeName=node-1"), ["spec.nodeName|true|node-1"]);
        assert_eq!(terms("a==b,c!=d"), ["a|true|b", "c|false|d"]);
        assert_eq!(terms(r"a=b\,c\=d\\"), [r"a|true|b,c=d\"]);
        assert_eq!(terms("a="), ["a|true|"], "an empty value is a value");
        assert!(terms("").is_empty());
    }

    #[test]
    fn malformed_field_selectors_are_rejected() {
        let error = |s: &str| FieldSelector::parse(s).expect_err("selector is malformed").to_string();
        assert_eq!(
            error("nonsense"),
            "invalid selector: 'nonsense'; can't understand 'nonsense'"
        );
        assert_eq!(error("a=b,c"), "invalid selector: 'a=b,c'; can't understand 'c'");
        assert!(error("=b").contains("can't understand '=b'"));
        assert!(error(r"a=b\x").contains("invalid escape sequence"));
        assert!(error("a=b\\").contains("unterminated escape sequence"));
    }
}
