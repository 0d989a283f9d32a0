//! The draft-08 `issuer` block: one trusted token issuer and its keys per role.
//!
//! ```caddyfile
//! issuer https://idp.example.com {
//!     authorization_server
//!     publisher {
//!         jwks_uri https://idp.example.com/jwks.json RS256 ES256
//!     }
//!     subscriber {
//!         jwt {env.SUBSCRIBER_KEY} HS256
//!     }
//! }
//! ```
//!
//! A block is complete on its own (a later directive cannot change it), so it is validated
//! as soon as it is read, with the line of the faulty sub-directive. Whether `issuer` is
//! allowed at all depends on the protocol, which is only known at the end of loading: the
//! builder checks that (see `Builder::finish`).

use crate::config::{DEFAULT_ALGORITHM, IssuerConfig, KeySource, SUPPORTED_ALGORITHMS};
use crate::directives::{
    StaticKey, check_arity, expand_placeholders, suggest, unsupported_algorithm, validate_jwks_url,
    validate_key,
};
use crate::error::{ConfigError, Site};
use crate::syntax::Node;

pub(crate) const ISSUER_USAGE: &str = "issuer <identifier> { [authorization_server] \
     publisher { jwt <key> [<algorithm>] | jwks_uri <url> [<algorithm>...] } subscriber { ... } }";
const ISSUER_DIRECTIVES: &[&str] = &["authorization_server", "publisher", "subscriber"];
const ROLE_USAGE: &str = "{ jwt <key> [<algorithm>] } or { jwks_uri <url> [<algorithm>...] }";
const JWT_USAGE: &str = "jwt <key> [<algorithm>]";
const JWKS_USAGE: &str = "jwks_uri <url> [<algorithm>...]";

/// Context shared by the parsing functions of one block.
struct Reader<'a> {
    origin: &'a str,
    env: &'a dyn Fn(&str) -> Option<String>,
    warnings: &'a mut Vec<String>,
}

impl Reader<'_> {
    fn site(&self, node: &Node) -> Site {
        Site::directive(self.origin, node.name.line, &node.name.text)
    }

    fn args(&self, node: &Node) -> Vec<String> {
        node.args
            .iter()
            .map(|t| expand_placeholders(&t.text, self.env))
            .collect()
    }
}

/// Reads `issuer <id> { ... }`. `site` points at the `issuer` line and `args` are its
/// expanded arguments.
pub(crate) fn parse_issuer(
    origin: &str,
    node: &Node,
    site: &Site,
    args: &[String],
    env: &dyn Fn(&str) -> Option<String>,
    warnings: &mut Vec<String>,
) -> Result<IssuerConfig, ConfigError> {
    check_arity(site, ISSUER_USAGE, args, 1, 1)?;
    let id = args[0].clone();
    if id.is_empty() {
        // What an unset placeholder gives. The token's `iss` must equal the identifier, so
        // an empty one could only match tokens without issuer, which draft-08 refuses.
        return Err(site.error(
            "the issuer identifier must not be empty (unset environment variable?); it is the \
             exact `iss` of the tokens, e.g. https://idp.example.com",
        ));
    }
    let Some(block) = &node.block else {
        return Err(site.error(format!("expected a block; usage: {ISSUER_USAGE}")));
    };
    let mut reader = Reader {
        origin,
        env,
        warnings,
    };
    let mut issuer = IssuerConfig {
        id,
        publisher: None,
        subscriber: None,
        authorization_server: false,
    };
    // Line of each role block already read, to refuse a second one.
    let mut seen: [Option<usize>; 2] = [None, None];
    for child in block {
        let child_site = reader.site(child);
        let name = child.name.text.as_str();
        let child_args = reader.args(child);
        match name {
            "authorization_server" => {
                check_arity(&child_site, name, &child_args, 0, 0)?;
                if child.block.is_some() {
                    return Err(
                        child_site.error("does not take a block; usage: authorization_server")
                    );
                }
                issuer.authorization_server = true;
            }
            "publisher" | "subscriber" => {
                let usage = format!("{name} {ROLE_USAGE}");
                check_arity(&child_site, &usage, &child_args, 0, 0)?;
                let index = usize::from(name == "subscriber");
                if let Some(first) = seen[index] {
                    return Err(child_site.error(format!(
                        "the issuer {:?} already has a {name} block (line {first}); a role has \
                         one key: jwt or jwks_uri",
                        issuer.id
                    )));
                }
                seen[index] = Some(child.name.line);
                let Some(role_block) = &child.block else {
                    return Err(child_site.error(format!("expected a block; usage: {usage}")));
                };
                let key = parse_role(&mut reader, &issuer.id, name, &child_site, role_block)?;
                if name == "publisher" {
                    issuer.publisher = key;
                } else {
                    issuer.subscriber = key;
                }
            }
            "jwt" | "jwks_uri" => {
                return Err(child_site.error(format!(
                    "must be inside a publisher {{ ... }} or subscriber {{ ... }} block of the \
                     issuer; usage: {ISSUER_USAGE}"
                )));
            }
            _ => {
                let hint = suggest(name, ISSUER_DIRECTIVES.iter().copied())
                    .map(|s| format!(" (did you mean {s:?}?)"))
                    .unwrap_or_default();
                return Err(child_site.error(format!(
                    "unknown issuer directive{hint}; expected authorization_server, publisher or \
                     subscriber"
                )));
            }
        }
    }
    if issuer.publisher.is_none() && issuer.subscriber.is_none() {
        return Err(site.error(format!(
            "the issuer {:?} has no key: give it a publisher {{ ... }} and/or a subscriber \
             {{ ... }} block with a jwt or jwks_uri (an empty key, e.g. from an unset \
             environment variable, counts as none)",
            issuer.id
        )));
    }
    Ok(issuer)
}

/// Reads the inside of `publisher { ... }` or `subscriber { ... }`: exactly one `jwt` or
/// `jwks_uri`. `None` when its key or URL is empty (an unset placeholder), with a warning.
fn parse_role(
    reader: &mut Reader<'_>,
    issuer: &str,
    role: &str,
    role_site: &Site,
    block: &[Node],
) -> Result<Option<KeySource>, ConfigError> {
    let mut first: Option<(&str, usize)> = None;
    let mut key = None;
    for node in block {
        let site = reader.site(node);
        let name = node.name.text.as_str();
        let args = reader.args(node);
        if !matches!(name, "jwt" | "jwks_uri") {
            let hint = suggest(name, ["jwt", "jwks_uri"].into_iter())
                .map(|s| format!(" (did you mean {s:?}?)"))
                .unwrap_or_default();
            return Err(site.error(format!(
                "unknown {role} directive{hint}; expected {JWT_USAGE} or {JWKS_USAGE}"
            )));
        }
        if let Some((previous, line)) = first {
            let reason = if previous == name {
                format!("the {role} of the issuer {issuer:?} already has a {name} (line {line})")
            } else {
                format!(
                    "jwt and jwks_uri are mutually exclusive: the {role} of the issuer \
                     {issuer:?} already has a {previous} (line {line})"
                )
            };
            return Err(site.error(reason));
        }
        first = Some((name, node.name.line));
        let usage = if name == "jwt" { JWT_USAGE } else { JWKS_USAGE };
        if node.block.is_some() {
            return Err(site.error(format!("does not take a block; usage: {usage}")));
        }
        let location = site.describe();
        let ignored = |what: &str| {
            format!(
                "{location}: {name} has an empty {what} (unset environment variable?); the \
                 issuer {issuer:?} gets no {role} key from it"
            )
        };
        key = if name == "jwt" {
            check_arity(&site, usage, &args, 1, 2)?;
            if args[0].is_empty() {
                reader.warnings.push(ignored("key"));
                None
            } else {
                let alg = args
                    .get(1)
                    .filter(|a| !a.is_empty())
                    .cloned()
                    .unwrap_or_else(|| DEFAULT_ALGORITHM.to_owned());
                let key = StaticKey {
                    key: args[0].clone(),
                    alg,
                    key_site: site.clone(),
                    alg_site: site.clone(),
                    alg_hint: "the second argument of jwt".to_owned(),
                };
                validate_key(&key)?;
                Some(KeySource::Static {
                    key: key.key,
                    alg: key.alg,
                })
            }
        } else {
            check_arity(&site, usage, &args, 1, usize::MAX)?;
            if args[0].is_empty() {
                reader.warnings.push(ignored("URL"));
                None
            } else {
                validate_jwks_url(&args[0]).map_err(|e| site.error(e))?;
                let mut algs = Vec::new();
                // Empty arguments come from unset placeholders: skipped, as for `jwt`.
                for alg in args[1..].iter().filter(|a| !a.is_empty()) {
                    if !SUPPORTED_ALGORITHMS.contains(&alg.as_str()) {
                        return Err(site.error(unsupported_algorithm(alg)));
                    }
                    if !algs.contains(alg) {
                        algs.push(alg.clone());
                    }
                }
                Some(KeySource::Jwks {
                    url: args[0].clone(),
                    algs,
                })
            }
        };
    }
    if first.is_none() {
        return Err(role_site.error(format!("empty {role} block; usage: {role} {ROLE_USAGE}")));
    }
    Ok(key)
}
