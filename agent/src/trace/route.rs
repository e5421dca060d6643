//! Raw paths to low-cardinality route templates: configured patterns first, then a
//! heuristic that replaces id-like segments with `{id}`.

/// One configured pattern such as `/items/{id}/parts/{part}`: literal segments must match,
/// `{...}` segments match any one segment, and a final `{*rest}` matches the remainder.
#[derive(Clone, Debug)]
struct Pattern {
    text: String,
    segments: Vec<Segment>,
}

#[derive(Clone, Debug)]
enum Segment {
    Literal(String),
    Any,
    Rest,
}

#[derive(Clone, Debug, Default)]
pub struct Routes {
    patterns: Vec<Pattern>,
}

/// Where a route came from: configured routes are trusted for span names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Route {
    Configured(String),
    Heuristic(String),
}

impl Route {
    pub fn as_str(&self) -> &str {
        match self {
            Route::Configured(s) | Route::Heuristic(s) => s,
        }
    }

    pub fn into_string(self) -> String {
        match self {
            Route::Configured(s) | Route::Heuristic(s) => s,
        }
    }
}

impl Routes {
    pub fn new(patterns: &[String]) -> Self {
        let patterns = patterns
            .iter()
            .map(|text| Pattern {
                text: text.clone(),
                segments: text
                    .split('/')
                    .filter(|s| !s.is_empty())
                    .map(|s| {
                        if s.starts_with("{*") && s.ends_with('}') {
                            Segment::Rest
                        } else if s.starts_with('{') && s.ends_with('}') {
                            Segment::Any
                        } else {
                            Segment::Literal(s.to_owned())
                        }
                    })
                    .collect(),
            })
            .collect();
        Self { patterns }
    }

    /// The route of a request-target (query and fragment ignored; absolute-form accepted).
    pub fn route(&self, target: &str) -> Route {
        let path = path_of(target);
        for p in &self.patterns {
            if matches(&p.segments, path) {
                return Route::Configured(p.text.clone());
            }
        }
        Route::Heuristic(template(path))
    }
}

/// The first `://` in `target`. A byte scan for ':' instead of `str::find`, whose substring
/// searcher costs more to set up than a short target takes to scan; same answer.
fn scheme_separator(target: &str) -> Option<usize> {
    let bytes = target.as_bytes();
    let mut from = 0;
    while let Some(i) = bytes.get(from..)?.iter().position(|&b| b == b':') {
        let at = from + i;
        if bytes.get(at + 1..at + 3) == Some(b"//") {
            return Some(at);
        }
        from = at + 1;
    }
    None
}

/// The path part of a request-target.
pub fn path_of(target: &str) -> &str {
    let without_scheme = match scheme_separator(target) {
        Some(i) => {
            let rest = &target[i + 3..];
            rest.find('/').map_or("/", |j| &rest[j..])
        }
        None => target,
    };
    // '?' and '#' are ASCII, so a byte position is a char boundary: the same answer as
    // `find(['?', '#'])` without its char decoding.
    let end = without_scheme
        .bytes()
        .position(|b| b == b'?' || b == b'#')
        .unwrap_or(without_scheme.len());
    &without_scheme[..end]
}

fn matches(segments: &[Segment], path: &str) -> bool {
    let mut parts = path.split('/').filter(|s| !s.is_empty());
    for seg in segments {
        match seg {
            Segment::Rest => return true,
            Segment::Any => {
                if parts.next().is_none() {
                    return false;
                }
            }
            Segment::Literal(l) => {
                if parts.next() != Some(l.as_str()) {
                    return false;
                }
            }
        }
    }
    parts.next().is_none()
}

/// Longest templated route kept; longer paths are cut (bounded attribute size).
const MAX_ROUTE_LEN: usize = 128;
/// Segments kept; deeper paths end in `/{*}`.
const MAX_SEGMENTS: usize = 8;

fn is_id_like(seg: &str) -> bool {
    let digits = seg.bytes().filter(u8::is_ascii_digit).count();
    let hex = seg.bytes().all(|b| b.is_ascii_hexdigit());
    let uuid = seg.len() == 36 && seg.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-');
    digits == seg.len()
        || uuid
        || (hex && seg.len() >= 16)
        // Mixed tokens with many digits (order codes, base64 ids) vary per request.
        || (seg.len() >= 8 && digits * 2 >= seg.len())
        || seg.len() > 40
}

/// `/users/123/orders/9f8e...` -> `/users/{id}/orders/{id}`.
pub fn template(path: &str) -> String {
    let mut out = String::with_capacity(path.len().min(MAX_ROUTE_LEN));
    for (i, seg) in path.split('/').filter(|s| !s.is_empty()).enumerate() {
        if i == MAX_SEGMENTS {
            out.push_str("/{*}");
            break;
        }
        out.push('/');
        if is_id_like(seg) {
            out.push_str("{id}");
        } else {
            out.push_str(seg);
        }
        if out.len() > MAX_ROUTE_LEN {
            let mut cut = MAX_ROUTE_LEN;
            while !out.is_char_boundary(cut) {
                cut -= 1;
            }
            out.truncate(cut);
            break;
        }
    }
    if out.is_empty() {
        out.push('/');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heuristic() {
        for (path, want) in [
            ("/", "/"),
            ("/users/123", "/users/{id}"),
            ("/users/123/orders?x=1", "/users/{id}/orders"),
            ("/o/550e8400-e29b-41d4-a716-446655440000", "/o/{id}"),
            ("/blob/0123456789abcdef0123", "/blob/{id}"),
            ("/static/app.js", "/static/app.js"),
            ("/index.html", "/index.html"),
            ("http://example.com/items/5", "/items/{id}"),
        ] {
            assert_eq!(Routes::default().route(path).as_str(), want, "{path}");
        }
    }

    #[test]
    fn configured_first() {
        let routes = Routes::new(&["/items/{id}".into(), "/static/{*rest}".into()]);
        assert_eq!(
            routes.route("/items/abc"),
            Route::Configured("/items/{id}".into())
        );
        assert_eq!(
            routes.route("/static/a/b.css"),
            Route::Configured("/static/{*rest}".into())
        );
        assert_eq!(
            routes.route("/items/abc/x"),
            Route::Heuristic("/items/abc/x".into())
        );
    }

    #[test]
    fn scheme_separator_is_the_first_colon_slash_slash() {
        for target in [
            "/items/1",
            "http://h/x",
            "h:1/x://y",
            "a:b:/c://d",
            ":",
            "://",
            "x:/",
            "",
            "/r?to=https://e/x",
        ] {
            assert_eq!(scheme_separator(target), target.find("://"), "{target}");
        }
    }

    #[test]
    fn bounded() {
        let deep = "/a".repeat(100);
        assert!(template(&deep).len() <= MAX_ROUTE_LEN + 4);
        let long = format!("/{}", "é".repeat(200));
        assert!(template(&long).len() <= MAX_ROUTE_LEN + 4);
    }

    #[test]
    fn five_thousand_users_one_route() {
        let routes = Routes::default();
        let distinct: std::collections::HashSet<String> = (1..=5000)
            .map(|i| routes.route(&format!("/users/{i}")).as_str().to_owned())
            .collect();
        assert_eq!(distinct.len(), 1);
    }
}
