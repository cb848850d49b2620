//! The lexical layer of RFC 1035 master files: entries (a line, or lines
//! joined by parentheses) made of tokens, each with the line it is on.
//!
//! Tokens are kept as written, escapes and all: what `\.` or `\065` mean
//! depends on the field (a name's label, a character string), so the field
//! parsers unescape them (`unescape`). A quoted token may hold spaces, `;`,
//! parentheses and newlines, as NSD allows; a `"` starts one wherever it
//! stands. A file need not be UTF-8: tokens are bytes.

/// One token of an entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Token<'a> {
    /// As written, without the quotes of a quoted token.
    pub text: &'a [u8],
    pub quoted: bool,
    pub line: usize,
    /// Whether it follows the token before it with nothing between, as the
    /// quoted value of `alpn="h2,h3"` follows `alpn=`.
    pub glued: bool,
}

impl Token<'_> {
    /// The token as text, for messages.
    pub fn show(&self) -> String {
        let text = String::from_utf8_lossy(self.text);
        if self.quoted {
            format!("\"{text}\"")
        } else {
            text.into_owned()
        }
    }
}

/// One entry: a record or a `$` directive.
#[derive(Debug)]
pub struct Entry<'a> {
    /// The line it starts on.
    pub line: usize,
    /// Whether its first line starts with a blank: the owner is the
    /// previous record's.
    pub blank_owner: bool,
    pub tokens: Vec<Token<'a>>,
    /// Something NSD lets by and BIND refuses: read as NSD reads it.
    pub warning: Option<String>,
}

/// A lexical error, at a line; the lexer goes on at the next entry.
#[derive(Debug, PartialEq, Eq)]
pub struct LexError {
    pub line: usize,
    pub message: String,
}

/// Splits master file text into entries.
pub struct Lexer<'a> {
    text: &'a [u8],
    at: usize,
    line: usize,
    /// Where the last token ended.
    last_end: usize,
    /// Set when a quoted string of the current entry ran over a newline.
    quote_over_lines: bool,
    /// A token list handed back by [`Lexer::recycle`], for the next entry.
    spare: Vec<Token<'a>>,
}

impl<'a> Lexer<'a> {
    pub fn new(text: &'a [u8]) -> Self {
        Self {
            text,
            at: 0,
            line: 1,
            last_end: usize::MAX,
            quote_over_lines: false,
            spare: Vec::new(),
        }
    }

    /// Hands back an entry's tokens once read, so the next entry reuses
    /// their room instead of allocating.
    pub fn recycle(&mut self, mut tokens: Vec<Token<'a>>) {
        tokens.clear();
        self.spare = tokens;
    }

    fn peek(&self) -> Option<u8> {
        self.text.get(self.at).copied()
    }

    /// The next entry, or `None` at the end of the text.
    #[allow(clippy::should_implement_trait)]
    pub fn next(&mut self) -> Option<Result<Entry<'a>, LexError>> {
        loop {
            let line = self.line;
            let blank_owner = matches!(self.peek(), Some(b' ' | b'\t'));
            let mut tokens = std::mem::take(&mut self.spare);
            tokens.clear();
            let mut depth = 0usize;
            let mut error: Option<LexError> = None;
            let mut warning = None;
            self.quote_over_lines = false;
            loop {
                let Some(byte) = self.peek() else {
                    if depth > 0 {
                        warning = Some("'(' is not closed before the end of the file".into());
                    }
                    break;
                };
                match byte {
                    b' ' | b'\t' | b'\r' => self.at += 1,
                    b'\n' => {
                        self.at += 1;
                        self.line += 1;
                        if depth == 0 {
                            break;
                        }
                    }
                    b';' => {
                        while !matches!(self.peek(), None | Some(b'\n')) {
                            self.at += 1;
                        }
                    }
                    b'(' => {
                        self.at += 1;
                        depth += 1;
                    }
                    b')' => {
                        self.at += 1;
                        if depth == 0 {
                            error.get_or_insert(LexError {
                                line: self.line,
                                message: "')' without a matching '('".into(),
                            });
                        } else {
                            depth -= 1;
                        }
                    }
                    b'"' => match self.quoted() {
                        Ok(token) => tokens.push(token),
                        Err(e) => {
                            error.get_or_insert(e);
                        }
                    },
                    _ => tokens.push(self.word()),
                }
            }
            if let Some(error) = error {
                return Some(Err(error));
            }
            if self.quote_over_lines {
                warning.get_or_insert_with(|| "a quoted string runs over a line break".into());
            }
            if !tokens.is_empty() {
                return Some(Ok(Entry {
                    line,
                    blank_owner,
                    tokens,
                    warning,
                }));
            }
            self.spare = tokens;
            if self.at >= self.text.len() {
                return None;
            }
        }
    }

    /// An unquoted token: up to a blank, `;`, a parenthesis or a quote;
    /// a backslash keeps the byte after it in the token.
    fn word(&mut self) -> Token<'a> {
        let start = self.at;
        let line = self.line;
        while let Some(byte) = self.peek() {
            match byte {
                b' ' | b'\t' | b'\r' | b'\n' | b';' | b'(' | b')' | b'"' => break,
                b'\\' => {
                    self.at += 1;
                    if self.peek() == Some(b'\n') {
                        self.line += 1;
                    }
                    if self.peek().is_some() {
                        self.at += 1;
                    }
                }
                _ => self.at += 1,
            }
        }
        let glued = start == self.last_end;
        self.last_end = self.at;
        Token {
            text: &self.text[start..self.at],
            quoted: false,
            line,
            glued,
        }
    }

    /// A quoted token, the opening quote under the cursor.
    fn quoted(&mut self) -> Result<Token<'a>, LexError> {
        let line = self.line;
        let glued = self.at == self.last_end;
        self.at += 1;
        let start = self.at;
        loop {
            match self.peek() {
                None => {
                    return Err(LexError {
                        line,
                        message: "quoted string is not closed".into(),
                    });
                }
                Some(b'"') => {
                    let text = &self.text[start..self.at];
                    self.at += 1;
                    self.last_end = self.at;
                    return Ok(Token {
                        text,
                        quoted: true,
                        line,
                        glued,
                    });
                }
                Some(b'\\') => {
                    self.at += 1;
                    if self.peek() == Some(b'\n') {
                        self.line += 1;
                    }
                    if self.peek().is_some() {
                        self.at += 1;
                    }
                }
                Some(b'\n') => {
                    self.line += 1;
                    self.at += 1;
                    self.quote_over_lines = true;
                }
                Some(_) => self.at += 1,
            }
        }
    }
}

/// The bytes a token stands for: `\DDD` is the byte with that decimal
/// value, `\X` is X.
pub fn unescape(text: &[u8]) -> Result<Vec<u8>, String> {
    let mut out = Vec::with_capacity(text.len());
    let mut i = 0;
    while i < text.len() {
        if text[i] != b'\\' {
            out.push(text[i]);
            i += 1;
            continue;
        }
        let (byte, used) = escape(&text[i..])?;
        out.push(byte);
        i += used;
    }
    Ok(out)
}

/// The byte an escape at the start of `text` (a backslash) stands for,
/// and how many bytes of `text` it took.
pub fn escape(text: &[u8]) -> Result<(u8, usize), String> {
    match text.get(1..4) {
        Some(digits) if digits.iter().all(u8::is_ascii_digit) => {
            let value = digits
                .iter()
                .fold(0u32, |n, d| n * 10 + u32::from(d - b'0'));
            let byte = u8::try_from(value).map_err(|_| {
                format!(
                    "\\{} is not a byte (000-255)",
                    String::from_utf8_lossy(digits)
                )
            })?;
            Ok((byte, 4))
        }
        _ => match text.get(1) {
            Some(d) if d.is_ascii_digit() => Err(format!(
                "\\{} must be three decimal digits",
                String::from_utf8_lossy(&text[1..text.len().min(4)])
            )),
            Some(&byte) => Ok((byte, 2)),
            None => Err("a backslash at the end of a token".into()),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An entry as its line, whether the owner is blank, and its tokens.
    type Shown = (usize, bool, Vec<String>);

    fn all(text: &str) -> Vec<Result<Shown, LexError>> {
        let mut lexer = Lexer::new(text.as_bytes());
        let mut out = Vec::new();
        while let Some(entry) = lexer.next() {
            out.push(entry.map(|e| {
                (
                    e.line,
                    e.blank_owner,
                    e.tokens.iter().map(Token::show).collect(),
                )
            }));
        }
        out
    }

    #[test]
    fn entries_keep_their_first_line_and_join_parentheses() {
        let got = all(
            "; comment\n\n@ SOA a b (\n 1 ; serial\n 2 3 4 5 )\nwww A 1.2.3.4 ; (\n  TXT \"a ; (b\" c\\ d\n",
        );
        assert_eq!(
            got,
            [
                Ok((
                    3,
                    false,
                    ["@", "SOA", "a", "b", "1", "2", "3", "4", "5"]
                        .map(String::from)
                        .to_vec()
                )),
                Ok((6, false, ["www", "A", "1.2.3.4"].map(String::from).to_vec())),
                Ok((
                    7,
                    true,
                    ["TXT", "\"a ; (b\"", "c\\ d"].map(String::from).to_vec()
                )),
            ]
        );
    }

    #[test]
    fn quoted_strings_may_span_lines_and_hold_escaped_quotes() {
        let got = all("x TXT \"ab\ncd\" \"say \\\"hi\\\"\"\ny A 1.2.3.4\n");
        assert_eq!(
            got[0],
            Ok((
                1,
                false,
                ["x", "TXT", "\"ab\ncd\"", "\"say \\\"hi\\\"\""]
                    .map(String::from)
                    .to_vec()
            ))
        );
        assert_eq!(
            got[1].as_ref().unwrap().0,
            3,
            "lines counted inside the quotes"
        );
    }

    #[test]
    fn errors_name_their_line_and_the_lexer_goes_on() {
        let got = all("a A 1.2.3.4 )\nb A 1.2.3.5\n");
        assert_eq!(
            got[0],
            Err(LexError {
                line: 1,
                message: "')' without a matching '('".into()
            })
        );
        assert_eq!(got[1].as_ref().unwrap().0, 2);
        // At the end of the file, NSD reads an open parenthesis as closed.
        let mut lexer = Lexer::new(b"c SOA ( 1\n");
        let entry = lexer.next().unwrap().unwrap();
        assert_eq!(entry.tokens.len(), 3);
        assert!(entry.warning.unwrap().contains("not closed"));
        assert_eq!(
            all("x TXT \"open\n")[0],
            Err(LexError {
                line: 1,
                message: "quoted string is not closed".into()
            })
        );
    }

    #[test]
    fn tokens_know_when_they_are_glued_to_the_one_before() {
        let mut lexer = Lexer::new(b"x HTTPS 1 . alpn=\"h2,h3\" port=\"8443\" \"a\"\n");
        let entry = lexer.next().unwrap().unwrap();
        let glued: Vec<bool> = entry.tokens.iter().map(|t| t.glued).collect();
        assert_eq!(
            glued,
            [false, false, false, false, false, true, false, true, false]
        );
    }

    #[test]
    fn escapes_are_decimal() {
        assert_eq!(unescape(b"x\\065y").unwrap(), b"xAy");
        assert_eq!(unescape(b"a\\.b\\\\").unwrap(), b"a.b\\");
        assert_eq!(unescape(b"\\255\\000").unwrap(), [255, 0]);
        assert!(unescape(b"\\256").is_err());
        assert!(unescape(b"\\12").is_err());
        assert!(unescape(b"a\\").is_err());
    }
}
