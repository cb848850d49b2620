//! BIND's `$GENERATE range lhs [ttl] [class] type rhs`: one record per
//! value of the range, `$` in the owner and RDATA templates replaced by the
//! value, or by `${offset[,width[,base]]}` of it. `$$` and `\$` are a `$`.

/// Most records one `$GENERATE` may make.
pub const MAX_RECORDS: u64 = 1 << 20;

/// `start-stop[/step]`.
pub fn range(text: &[u8]) -> Result<(u64, u64, u64), String> {
    let text = std::str::from_utf8(text).map_err(|_| "a range is digits".to_string())?;
    let (bounds, step) = match text.split_once('/') {
        Some((bounds, step)) => (
            bounds,
            step.parse::<u64>()
                .map_err(|_| format!("bad step in range {text}"))?,
        ),
        None => (text, 1),
    };
    let (start, stop) = bounds
        .split_once('-')
        .ok_or_else(|| format!("bad range {text}: start-stop[/step]"))?;
    let start: u64 = start
        .parse()
        .map_err(|_| format!("bad range start in {text}"))?;
    let stop: u64 = stop
        .parse()
        .map_err(|_| format!("bad range stop in {text}"))?;
    if step == 0 || stop < start {
        return Err(format!(
            "bad range {text}: it must run upward in steps of at least 1"
        ));
    }
    if (stop - start) / step + 1 > MAX_RECORDS {
        return Err(format!("range {text} makes over {MAX_RECORDS} records"));
    }
    Ok((start, stop, step))
}

/// A template with each `$` replaced for `value`.
pub fn expand(template: &[u8], value: u64) -> Result<Vec<u8>, String> {
    let mut out = Vec::with_capacity(template.len() + 8);
    let mut i = 0;
    while i < template.len() {
        match template[i] {
            b'\\' if template.get(i + 1) == Some(&b'$') => {
                out.push(b'$');
                i += 2;
            }
            b'\\' => {
                // Other escapes are the field's: kept for it.
                out.push(b'\\');
                if let Some(&next) = template.get(i + 1) {
                    out.push(next);
                }
                i += 2;
            }
            b'$' if template.get(i + 1) == Some(&b'$') => {
                out.push(b'$');
                i += 2;
            }
            b'$' if template.get(i + 1) == Some(&b'{') => {
                let close = template[i..]
                    .iter()
                    .position(|&c| c == b'}')
                    .ok_or("${ without a closing }")?;
                let spec = std::str::from_utf8(&template[i + 2..i + close])
                    .map_err(|_| "bad ${...} modifier".to_string())?;
                out.extend_from_slice(modified(spec, value)?.as_bytes());
                i += close + 1;
            }
            b'$' => {
                out.extend_from_slice(value.to_string().as_bytes());
                i += 1;
            }
            byte => {
                out.push(byte);
                i += 1;
            }
        }
    }
    Ok(out)
}

/// `offset[,width[,base]]` applied to `value`.
fn modified(spec: &str, value: u64) -> Result<String, String> {
    let bad = || format!("bad modifier ${{{spec}}}: offset[,width[,base]]");
    let mut parts = spec.split(',');
    let offset: i64 = parts
        .next()
        .unwrap_or("0")
        .trim()
        .parse()
        .map_err(|_| bad())?;
    let width: usize = match parts.next() {
        Some(w) => w.trim().parse().map_err(|_| bad())?,
        None => 0,
    };
    let base = parts.next().map(str::trim).unwrap_or("d");
    if parts.next().is_some() || width > 255 {
        return Err(bad());
    }
    let n = i128::from(value) + i128::from(offset);
    let n = u64::try_from(n).map_err(|_| format!("${{{spec}}} makes {value} negative"))?;
    Ok(match base {
        "d" => format!("{n:0width$}"),
        "o" => format!("{n:0width$o}"),
        "x" => format!("{n:0width$x}"),
        "X" => format!("{n:0width$X}"),
        // Nibbles for reverse zones, least significant first, each
        // followed by a dot (BIND 9.9 and later).
        "n" | "N" => {
            let digits = if base == "n" {
                format!("{n:0width$x}")
            } else {
                format!("{n:0width$X}")
            };
            let mut nibbles = String::with_capacity(digits.len() * 2);
            for c in digits.chars().rev() {
                nibbles.push(c);
                nibbles.push('.');
            }
            nibbles
        }
        _ => return Err(bad()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn expanded(template: &str, value: u64) -> String {
        String::from_utf8(expand(template.as_bytes(), value).unwrap()).unwrap()
    }

    #[test]
    fn templates() {
        assert_eq!(expanded("host$", 7), "host7");
        assert_eq!(
            expanded("$.0.0.10.in-addr.arpa.", 3),
            "3.0.0.10.in-addr.arpa."
        );
        assert_eq!(expanded("h${10,3}", 7), "h017");
        assert_eq!(expanded("h${0,4,x}", 255), "h00ff");
        assert_eq!(expanded("h${-1,0,d}", 7), "h6");
        assert_eq!(expanded("${0,2,n}ip6", 0x1f), "f.1.ip6");
        assert_eq!(expanded("cost$$\\$", 1), "cost$$");
        assert!(expand(b"h${-9}", 7).is_err());
        assert!(expand(b"h${1", 7).is_err());
        assert!(expand(b"h${0,1,q}", 7).is_err());
    }

    #[test]
    fn ranges() {
        assert_eq!(range(b"1-10").unwrap(), (1, 10, 1));
        assert_eq!(range(b"0-254/2").unwrap(), (0, 254, 2));
        assert!(range(b"5-1").is_err());
        assert!(range(b"1-10/0").is_err());
        assert!(range(b"0-99999999").is_err());
    }
}
