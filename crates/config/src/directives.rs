//! Applying environment variables and directives, in order, onto a [`Config`].

use std::time::Duration;

use quicksilver_hub::duration::parse_duration;
use url::Url;

use crate::config::{
    Config, DEFAULT_ALGORITHM, DEFAULT_TRUSTED_ISSUER, IssuerConfig, KNOWN_TRANSPORTS, KeySource,
    Protocol, SUPPORTED_ALGORITHMS, TRUSTED_ISSUERS_VAR, TransportConfig, TransportOption,
};
use crate::error::{ConfigError, Site};
use crate::issuer::{ISSUER_USAGE, parse_issuer};
use crate::listen::parse_listen;
use crate::size::parse_size;
use crate::syntax::Node;
use crate::transport::from_dsn;

/// Every directive with its usage line (shown when arguments are missing or extra).
const DIRECTIVES: &[(&str, &str)] = &[
    ("server_name", "server_name <address>"),
    ("protocol", "protocol draft-07|draft-08"),
    ("name", "name <name>"),
    ("publisher_jwt", "publisher_jwt <key> [<algorithm>]"),
    ("subscriber_jwt", "subscriber_jwt <key> [<algorithm>]"),
    ("publisher_jwks_url", "publisher_jwks_url <url>"),
    ("subscriber_jwks_url", "subscriber_jwks_url <url>"),
    ("anonymous", "anonymous"),
    ("subscriptions", "subscriptions"),
    ("ui", "ui"),
    ("demo", "demo"),
    ("debugger", "debugger"),
    ("playground", "playground"),
    ("issuer", ISSUER_USAGE),
    ("resource_identifier", "resource_identifier <url>"),
    ("public_urls", "public_urls <url>..."),
    ("max_request_body_size", "max_request_body_size <size>"),
    ("heartbeat", "heartbeat <duration>"),
    ("write_timeout", "write_timeout <duration>"),
    ("dispatch_timeout", "dispatch_timeout <duration>"),
    ("cors_origins", "cors_origins <origin>..."),
    ("publish_origins", "publish_origins <origin>..."),
    ("cookie_name", "cookie_name <name>"),
    (
        "protocol_version_compatibility",
        "protocol_version_compatibility 7",
    ),
    ("transport", "transport <name> [{ <options> }]"),
    ("transport_url", "transport_url <url>"),
    (
        "topic_selector_cache",
        "topic_selector_cache <size> [<shard count>]",
    ),
    ("topic_matcher_cache", "topic_matcher_cache <size>"),
    (
        "subscriber_list_cache_size",
        "subscriber_list_cache_size <size>",
    ),
    ("mercure", "mercure { <directives> }"),
];

/// Names of every directive, for callers that want to list them.
pub fn directive_names() -> impl Iterator<Item = &'static str> {
    DIRECTIVES.iter().map(|(name, _)| *name)
}

/// One role's key settings. Static key and JWKS URL are kept apart because the JWKS URL
/// wins whatever the order (as in the reference); the choice is made in [`Builder::finish`].
#[derive(Default)]
struct Keys {
    static_key: Option<StaticKey>,
    jwks: Option<(String, Site)>,
}

pub(crate) struct StaticKey {
    pub(crate) key: String,
    pub(crate) alg: String,
    pub(crate) key_site: Site,
    pub(crate) alg_site: Site,
    /// How to change the algorithm, for error messages.
    pub(crate) alg_hint: String,
}

pub(crate) struct Builder<'e> {
    env: &'e dyn Fn(&str) -> Option<String>,
    config: Config,
    /// Draft-07 keys of the directives, and the environment's keys (for either protocol).
    publisher: Keys,
    subscriber: Keys,
    // What depends on the protocol is recorded while reading and settled by `finish`, since
    // `protocol` may come after (or in a later layer than) the directives it affects.
    /// Where `protocol` was last set.
    protocol_site: Option<Site>,
    /// Every `publisher_jwt`, `subscriber_jwt`, `*_jwks_url` (draft-07 only).
    legacy_key_sites: Vec<Site>,
    /// The last `protocol_version_compatibility` (7 or 8) and where.
    compatibility: Option<(u8, Site)>,
    /// Every `issuer` block with its site, in order (draft-08 only).
    issuers: Vec<(IssuerConfig, Site)>,
    /// Every other draft-08-only directive (`resource_identifier`, `public_urls`).
    draft08_only_sites: Vec<Site>,
    cookie_name_set: bool,
    max_request_body_size_set: bool,
}

impl<'e> Builder<'e> {
    pub(crate) fn new(env: &'e dyn Fn(&str) -> Option<String>) -> Self {
        Builder {
            env,
            config: Config::default(),
            publisher: Keys::default(),
            subscriber: Keys::default(),
            protocol_site: None,
            legacy_key_sites: Vec::new(),
            compatibility: None,
            issuers: Vec::new(),
            draft08_only_sites: Vec::new(),
            cookie_name_set: false,
            max_request_body_size_set: false,
        }
    }

    /// An environment variable, with "set but empty" meaning unset (as the reference's
    /// Caddyfile placeholders treat it).
    pub(crate) fn env_var(&self, name: &str) -> Option<String> {
        (self.env)(name).filter(|v| !v.is_empty())
    }

    /// Layer 1: the reference Docker image's environment variables.
    pub(crate) fn apply_env(&mut self) -> Result<(), ConfigError> {
        for (role, prefix) in [
            ("publisher", "MERCURE_PUBLISHER_JWT"),
            ("subscriber", "MERCURE_SUBSCRIBER_JWT"),
        ] {
            let key_var = format!("{prefix}_KEY");
            let alg_var = format!("{prefix}_ALG");
            if let Some(key) = self.env_var(&key_var) {
                let alg = self
                    .env_var(&alg_var)
                    .unwrap_or_else(|| DEFAULT_ALGORITHM.to_owned());
                let keys = if role == "publisher" {
                    &mut self.publisher
                } else {
                    &mut self.subscriber
                };
                keys.static_key = Some(StaticKey {
                    key,
                    alg,
                    key_site: Site::Env(key_var),
                    alg_site: Site::Env(alg_var.clone()),
                    alg_hint: alg_var,
                });
            }
        }
        if let Some(dsn) = self.env_var("MERCURE_TRANSPORT_URL") {
            let site = Site::Env("MERCURE_TRANSPORT_URL".to_owned());
            let transport = from_dsn(&dsn, "MERCURE_TRANSPORT_URL", 0, site.describe())
                .map_err(|e| site.error(e))?;
            self.config.warnings.push(deprecated_dsn_warning(
                "MERCURE_TRANSPORT_URL is deprecated (as in the reference hub)",
                &transport,
            ));
            self.config.transport = transport;
        }
        if let Some(address) = self.env_var("SERVER_NAME") {
            let site = Site::Env("SERVER_NAME".to_owned());
            let (listen, note) = parse_listen(&address).map_err(|e| site.error(e))?;
            self.config.listen = listen;
            self.config.warnings.extend(note);
        }
        Ok(())
    }

    /// Layers 2 and 3: parsed directives of `MERCURE_EXTRA_DIRECTIVES` or the config file.
    pub(crate) fn apply_nodes(&mut self, origin: &str, nodes: &[Node]) -> Result<(), ConfigError> {
        self.apply_block(origin, nodes, false)
    }

    fn apply_block(
        &mut self,
        origin: &str,
        nodes: &[Node],
        in_mercure: bool,
    ) -> Result<(), ConfigError> {
        for node in nodes {
            self.apply_node(origin, node, in_mercure)?;
        }
        Ok(())
    }

    fn apply_node(
        &mut self,
        origin: &str,
        node: &Node,
        in_mercure: bool,
    ) -> Result<(), ConfigError> {
        let name = node.name.text.as_str();
        let line = node.name.line;
        let site = Site::directive(origin, line, name);
        let Some(usage) = DIRECTIVES.iter().find(|(n, _)| *n == name).map(|(_, u)| *u) else {
            return Err(site.error(unknown_directive_reason(name, node.block.is_some())));
        };
        if node.block.is_some() && !matches!(name, "transport" | "mercure" | "issuer") {
            return Err(site.error(format!("does not take a block; usage: {usage}")));
        }
        let args: Vec<String> = node
            .args
            .iter()
            .map(|t| expand_placeholders(&t.text, self.env))
            .collect();
        let arity = |min: usize, max: usize| check_arity(&site, usage, &args, min, max);
        let warnings = &mut self.config.warnings;
        match name {
            "mercure" => {
                arity(0, 0)?;
                if in_mercure {
                    return Err(site.error("mercure blocks cannot be nested"));
                }
                let Some(block) = &node.block else {
                    return Err(site.error("expected a block: mercure { <directives> }"));
                };
                self.apply_block(origin, block, true)?;
            }
            "server_name" => {
                arity(1, 1)?;
                let (listen, note) = parse_listen(&args[0]).map_err(|e| site.error(e))?;
                self.config.listen = listen;
                warnings.extend(note);
            }
            "protocol" => {
                arity(1, 1)?;
                self.config.protocol = match args[0].as_str() {
                    "draft-07" => Protocol::Draft07,
                    "draft-08" => Protocol::Draft08,
                    other => {
                        return Err(site.error(format!(
                            "expected draft-07 (the default) or draft-08, got {other:?}"
                        )));
                    }
                };
                self.protocol_site = Some(site);
            }
            "name" => {
                arity(1, 1)?;
                if args[0].is_empty() {
                    return Err(site.error("the hub name must not be empty"));
                }
                self.config.name = args[0].clone();
            }
            "publisher_jwt" | "subscriber_jwt" => {
                arity(1, 2)?;
                self.legacy_key_sites.push(site.clone());
                let keys = if name == "publisher_jwt" {
                    &mut self.publisher
                } else {
                    &mut self.subscriber
                };
                if args[0].is_empty() {
                    // What an unset `{env.X}` gives; the reference then treats the key as not
                    // provided. Ignoring it keeps whatever an earlier layer configured.
                    warnings.push(format!(
                        "{}: {name} has an empty key (unset environment variable?); ignored",
                        site.describe()
                    ));
                } else {
                    let alg = args
                        .get(1)
                        .filter(|a| !a.is_empty())
                        .cloned()
                        .unwrap_or_else(|| DEFAULT_ALGORITHM.to_owned());
                    keys.static_key = Some(StaticKey {
                        key: args[0].clone(),
                        alg,
                        key_site: site.clone(),
                        alg_site: site.clone(),
                        alg_hint: format!("the second argument of {name}"),
                    });
                }
            }
            "publisher_jwks_url" | "subscriber_jwks_url" => {
                arity(1, 1)?;
                self.legacy_key_sites.push(site.clone());
                let keys = if name == "publisher_jwks_url" {
                    &mut self.publisher
                } else {
                    &mut self.subscriber
                };
                if args[0].is_empty() {
                    warnings.push(format!(
                        "{}: {name} has an empty URL (unset environment variable?); ignored",
                        site.describe()
                    ));
                } else {
                    validate_jwks_url(&args[0]).map_err(|e| site.error(e))?;
                    keys.jwks = Some((args[0].clone(), site.clone()));
                }
            }
            "anonymous" => {
                arity(0, 0)?;
                self.config.anonymous = true;
            }
            "subscriptions" => {
                arity(0, 0)?;
                self.config.subscriptions = true;
            }
            "ui" | "demo" | "debugger" | "playground" => {
                arity(0, 0)?;
                let flag = match name {
                    "ui" => &mut self.config.ui,
                    "demo" => &mut self.config.demo,
                    "debugger" => &mut self.config.debugger,
                    _ => &mut self.config.playground,
                };
                *flag = true;
                // The reference's playground also switches other settings on; say that
                // those stay as configured, so nobody relies on them.
                let also = if name == "playground" {
                    " (nor are its implied settings: anonymous, subscriptions, cors_origins *, \
                     publish_origins * stay as configured)"
                } else {
                    ""
                };
                warnings.push(format!(
                    "{}: the {name} directive is accepted for compatibility but not implemented; ignored{also}",
                    site.describe()
                ));
            }
            "issuer" => {
                let issuer = parse_issuer(origin, node, &site, &args, self.env, warnings)?;
                if let Some((_, first)) = self.issuers.iter().find(|(i, _)| i.id == issuer.id) {
                    return Err(site.error(format!(
                        "duplicate issuer {:?}: it is already configured at {}; give each \
                         issuer one block holding its publisher and subscriber keys",
                        issuer.id,
                        first.describe()
                    )));
                }
                self.draft08_only_sites.push(site.clone());
                self.issuers.push((issuer, site));
            }
            "resource_identifier" => {
                arity(1, 1)?;
                self.draft08_only_sites.push(site.clone());
                if args[0].is_empty() {
                    warnings.push(format!(
                        "{}: resource_identifier is empty (unset environment variable?); ignored, \
                         the resource identifier is derived from each request",
                        site.describe()
                    ));
                } else {
                    let note = validate_resource_identifier(&args[0]).map_err(|e| site.error(e))?;
                    warnings.extend(note.map(|n| format!("{}: {n}", site.describe())));
                    self.config.resource_identifier = Some(args[0].clone());
                }
            }
            "public_urls" => {
                arity(1, usize::MAX)?;
                self.draft08_only_sites.push(site.clone());
                let mut origins = Vec::with_capacity(args.len());
                for url in &args {
                    let (origin, note) = public_url_origin(url).map_err(|e| site.error(e))?;
                    warnings.extend(note.map(|n| format!("{}: {n}", site.describe())));
                    if !origins.contains(&origin) {
                        origins.push(origin);
                    }
                }
                self.config.public_urls = origins;
            }
            "max_request_body_size" => {
                arity(1, 1)?;
                let size = parse_size(&args[0]).map_err(|e| site.error(e))?;
                let size = usize::try_from(size).map_err(|_| {
                    site.error(format!("{:?} is too large for this platform", args[0]))
                })?;
                self.config.max_request_body_size = (size != 0).then_some(size);
                self.max_request_body_size_set = true;
            }
            "heartbeat" | "write_timeout" | "dispatch_timeout" => {
                arity(1, 1)?;
                let duration = parse_duration(&args[0]).map_err(|e| site.error(e))?;
                let value = (duration != Duration::ZERO).then_some(duration);
                match name {
                    "heartbeat" => self.config.heartbeat = value,
                    "write_timeout" => self.config.write_timeout = value,
                    _ => self.config.dispatch_timeout = value,
                }
            }
            "cors_origins" | "publish_origins" => {
                arity(1, usize::MAX)?;
                for origin in &args {
                    validate_origin(origin).map_err(|e| site.error(e))?;
                }
                if name == "cors_origins" {
                    self.config.cors_origins = args;
                } else {
                    self.config.publish_origins = args;
                }
            }
            "cookie_name" => {
                arity(1, 1)?;
                validate_cookie_name(&args[0]).map_err(|e| site.error(e))?;
                self.config.cookie_name = args[0].clone();
                self.cookie_name_set = true;
            }
            "protocol_version_compatibility" => {
                arity(1, 1)?;
                // Parsed as an integer like the reference (Go's Atoi), so `+7` is fine too.
                // 8 is the reference 1.0's value: refused by `finish` whatever the protocol,
                // with a message fitting the protocol, which is not known yet.
                match args[0].parse::<i64>() {
                    Ok(7) => self.compatibility = Some((7, site)),
                    Ok(8) => self.compatibility = Some((8, site)),
                    _ => return Err(site.error(compatibility_7_only(&args[0]))),
                }
            }
            "transport" => {
                arity(1, 1)?;
                let kind = &args[0];
                if !KNOWN_TRANSPORTS.contains(&kind.as_str()) {
                    let hint = suggest(kind, KNOWN_TRANSPORTS.iter().copied())
                        .map(|s| format!(" (did you mean {s:?}?)"))
                        .unwrap_or_default();
                    return Err(site.error(format!(
                        "unknown transport {kind:?}{hint}; expected one of {}",
                        KNOWN_TRANSPORTS.join(", ")
                    )));
                }
                let mut options = Vec::new();
                for option in node.block.iter().flatten() {
                    if option.block.is_some() {
                        return Err(Site::directive(origin, option.name.line, &option.name.text)
                            .error("transport options cannot have a block"));
                    }
                    options.push(TransportOption {
                        name: option.name.text.clone(),
                        args: option
                            .args
                            .iter()
                            .map(|t| expand_placeholders(&t.text, self.env))
                            .collect(),
                        line: option.name.line,
                        source: origin.to_owned(),
                    });
                }
                self.config.transport = TransportConfig {
                    kind: kind.clone(),
                    options,
                    origin: site.describe(),
                };
            }
            "transport_url" => {
                arity(1, 1)?;
                let transport =
                    from_dsn(&args[0], origin, line, site.describe()).map_err(|e| site.error(e))?;
                warnings.push(deprecated_dsn_warning(
                    &format!(
                        "{}: transport_url is deprecated (as in the reference hub)",
                        site.describe()
                    ),
                    &transport,
                ));
                self.config.transport = transport;
            }
            "topic_matcher_cache" => {
                arity(1, 1)?;
                let size = parse_int(&args[0]).map_err(|e| site.error(e))?;
                // <= 0 disables the cache, as with topic_selector_cache.
                self.config.topic_selector_cache = usize::try_from(size).unwrap_or(0);
            }
            "topic_selector_cache" => {
                arity(1, 2)?;
                let size = parse_int(&args[0]).map_err(|e| site.error(e))?;
                if let Some(shards) = args.get(1) {
                    parse_int(shards).map_err(|e| site.error(e))?;
                    warnings.push(format!(
                        "{}: the shard count argument of topic_selector_cache is deprecated and ignored; the first argument is the total cache size",
                        site.describe()
                    ));
                }
                // <= 0 disables the cache (`-1` is the documented way).
                self.config.topic_selector_cache = usize::try_from(size).unwrap_or(0);
            }
            "subscriber_list_cache_size" => {
                arity(1, 1)?;
                let size = parse_int(&args[0]).map_err(|e| site.error(e))?;
                self.config.subscriber_list_cache_size = usize::try_from(size).map_err(|_| {
                    site.error(format!("must be >= 0 (0 means unbounded), got {size}"))
                })?;
            }
            _ => {
                // DIRECTIVES and this match list the same names; reaching here is a bug,
                // reported rather than panicking.
                return Err(site.error("directive known but not handled (this is a bug)"));
            }
        }
        Ok(())
    }

    /// Settles what depends on the protocol, resolves and validates keys, applies the
    /// protocol's defaults and checks that a hub can run.
    pub(crate) fn finish(mut self) -> Result<Config, ConfigError> {
        match self.config.protocol {
            Protocol::Draft07 => self.finish_draft07()?,
            Protocol::Draft08 => self.finish_draft08()?,
        }
        let protocol = self.config.protocol;
        if !self.cookie_name_set {
            self.config.cookie_name = protocol.default_cookie_name().to_owned();
        }
        if !self.max_request_body_size_set {
            self.config.max_request_body_size = Some(protocol.default_max_request_body_size());
        }
        Ok(self.config)
    }

    fn finish_draft07(&mut self) -> Result<(), ConfigError> {
        if let Some(site) = self.draft08_only_sites.first() {
            let hint = if matches!(site, Site::Directive { directive, .. } if directive == "issuer")
            {
                "; with draft-07 the keys are set with publisher_jwt and subscriber_jwt (or the \
                 MERCURE_*_JWT_KEY variables)"
            } else {
                ""
            };
            return Err(site.error(format!(
                "needs protocol draft-08 (add the directive `protocol draft-08`; draft-07 is the \
                 default){hint}"
            )));
        }
        match &self.compatibility {
            Some((7, _)) => self.config.protocol_version_compatibility = Some(7),
            Some((value, site)) => return Err(site.error(compatibility_7_only(&value.to_string()))),
            None => {}
        }
        if self.env_var(TRUSTED_ISSUERS_VAR).is_some() {
            self.config.warnings.push(format!(
                "{TRUSTED_ISSUERS_VAR} is ignored with protocol draft-07 (tokens have no trusted \
                 issuer there); it applies with `protocol draft-08`"
            ));
        }
        let warnings = &mut self.config.warnings;
        let publisher = resolve_keys("publisher", std::mem::take(&mut self.publisher), warnings)?;
        let subscriber =
            resolve_keys("subscriber", std::mem::take(&mut self.subscriber), warnings)?;
        if publisher.is_none() {
            return Err(ConfigError::Incomplete(
                "no publisher key: set MERCURE_PUBLISHER_JWT_KEY or the publisher_jwt directive \
                 (or publisher_jwks_url)"
                    .to_owned(),
            ));
        }
        if subscriber.is_none() && !self.config.anonymous {
            return Err(ConfigError::Incomplete(
                "no subscriber key: set MERCURE_SUBSCRIBER_JWT_KEY or the subscriber_jwt directive \
                 (or subscriber_jwks_url), or add the anonymous directive to allow subscribers \
                 without a token"
                    .to_owned(),
            ));
        }
        self.config.publisher = publisher;
        self.config.subscriber = subscriber;
        Ok(())
    }

    fn finish_draft08(&mut self) -> Result<(), ConfigError> {
        let chosen_at = self
            .protocol_site
            .as_ref()
            .map(|s| format!(" (set at {})", s.describe()))
            .unwrap_or_default();
        if let Some(site) = self.legacy_key_sites.first() {
            return Err(site.error(format!(
                "not available with protocol draft-08{chosen_at}: declare keys per token issuer, \
                 e.g. `issuer https://idp.example.com {{ publisher {{ jwt <key> [<algorithm>] }} \
                 subscriber {{ jwks_uri <url> }} }}`, or use the MERCURE_PUBLISHER_JWT_KEY / \
                 MERCURE_SUBSCRIBER_JWT_KEY variables with {TRUSTED_ISSUERS_VAR} (the reference \
                 accepts this directive only in its compatibility mode, which Quicksilver does \
                 not implement)"
            )));
        }
        if let Some((_, site)) = &self.compatibility {
            return Err(site.error(format!(
                "not implemented with protocol draft-08{chosen_at}: the reference's compatibility \
                 mode (which relaxes token validation for older clients) is not available; \
                 remove the directive, or use `protocol draft-07` for draft-07 clients"
            )));
        }

        // The environment's keys form the issuer the reference image's Caddyfile declares
        // first: `issuer {$MERCURE_TRUSTED_ISSUERS:https://localhost} { ... }`.
        let trusted = self.env_var(TRUSTED_ISSUERS_VAR);
        if let Some(id) = &trusted
            && id.contains(char::is_whitespace)
        {
            return Err(Site::Env(TRUSTED_ISSUERS_VAR.to_owned()).error(format!(
                "expected one issuer identifier (the exact `iss` of the tokens signed with \
                 MERCURE_PUBLISHER_JWT_KEY / MERCURE_SUBSCRIBER_JWT_KEY), got {id:?}; declare \
                 other issuers with issuer blocks"
            )));
        }
        let env_id = trusted
            .clone()
            .unwrap_or_else(|| DEFAULT_TRUSTED_ISSUER.to_owned());
        // Only the environment can have filled these with draft-08: the key directives were
        // refused above.
        let publisher = std::mem::take(&mut self.publisher).static_key;
        let subscriber = std::mem::take(&mut self.subscriber).static_key;
        let env_sites: Vec<String> = [&publisher, &subscriber]
            .into_iter()
            .flatten()
            .map(|k| k.key_site.describe())
            .collect();
        let block = self.issuers.iter().find(|(i, _)| i.id == env_id);
        let mut issuers = Vec::with_capacity(self.issuers.len() + 1);
        match (env_sites.is_empty(), block) {
            // Directives override the environment, as `publisher_jwt` does with draft-07;
            // the reference would see two blocks for one issuer, an error there.
            (false, Some((_, site))) => self.config.warnings.push(format!(
                "{} ignored: the issuer block at {} configures the issuer {env_id:?} (named by \
                 {TRUSTED_ISSUERS_VAR}{}) and replaces the keys from the environment",
                env_sites.join(" and "),
                site.describe(),
                if trusted.is_some() {
                    String::new()
                } else {
                    format!(", default {DEFAULT_TRUSTED_ISSUER}")
                },
            )),
            (false, None) => {
                let key = |k: Option<StaticKey>| -> Result<Option<KeySource>, ConfigError> {
                    let Some(k) = k else { return Ok(None) };
                    validate_key(&k)?;
                    Ok(Some(KeySource::Static {
                        key: k.key,
                        alg: k.alg,
                    }))
                };
                issuers.push(IssuerConfig {
                    id: env_id,
                    publisher: key(publisher)?,
                    subscriber: key(subscriber)?,
                    authorization_server: false,
                });
            }
            (true, None) if trusted.is_some() => self.config.warnings.push(format!(
                "{TRUSTED_ISSUERS_VAR} names the issuer {env_id:?}, but neither \
                 MERCURE_PUBLISHER_JWT_KEY nor MERCURE_SUBSCRIBER_JWT_KEY is set: no key is \
                 configured for it"
            )),
            (true, _) => {}
        }
        issuers.extend(
            std::mem::take(&mut self.issuers)
                .into_iter()
                .map(|(i, _)| i),
        );

        if !issuers.iter().any(|i| i.publisher.is_some()) {
            return Err(ConfigError::Incomplete(format!(
                "no publisher key: set MERCURE_PUBLISHER_JWT_KEY (the key of the issuer named by \
                 {TRUSTED_ISSUERS_VAR}, default {DEFAULT_TRUSTED_ISSUER}) or give an issuer \
                 block a publisher {{ jwt <key> [<algorithm>] }} or publisher {{ jwks_uri <url> }}"
            )));
        }
        if !self.config.anonymous && !issuers.iter().any(|i| i.subscriber.is_some()) {
            return Err(ConfigError::Incomplete(format!(
                "no subscriber key: set MERCURE_SUBSCRIBER_JWT_KEY (the key of the issuer named by \
                 {TRUSTED_ISSUERS_VAR}, default {DEFAULT_TRUSTED_ISSUER}) or give an issuer \
                 block a subscriber {{ jwt <key> [<algorithm>] }} or subscriber {{ jwks_uri <url> }}, \
                 or add the anonymous directive to allow subscribers without a token"
            )));
        }
        self.config.issuers = issuers;
        Ok(())
    }
}

fn resolve_keys(
    role: &str,
    keys: Keys,
    warnings: &mut Vec<String>,
) -> Result<Option<KeySource>, ConfigError> {
    match (keys.jwks, keys.static_key) {
        (Some((url, site)), static_key) => {
            if let Some(static_key) = static_key {
                warnings.push(format!(
                    "the {role} key from {} is ignored: {role}_jwks_url ({}) takes precedence",
                    static_key.key_site.describe(),
                    site.describe()
                ));
            }
            Ok(Some(KeySource::Jwks {
                url,
                algs: Vec::new(),
            }))
        }
        (None, Some(static_key)) => {
            validate_key(&static_key)?;
            Ok(Some(KeySource::Static {
                key: static_key.key,
                alg: static_key.alg,
            }))
        }
        (None, None) => Ok(None),
    }
}

/// Why `alg` is refused (it is not one of [`SUPPORTED_ALGORITHMS`]).
pub(crate) fn unsupported_algorithm(alg: &str) -> String {
    let hint = SUPPORTED_ALGORITHMS
        .iter()
        .find(|a| a.eq_ignore_ascii_case(alg))
        .map(|a| format!(" (did you mean {a:?}? algorithm names are case-sensitive)"))
        .unwrap_or_default();
    format!(
        "unsupported JWT algorithm {alg:?}{hint}; expected one of {}",
        SUPPORTED_ALGORITHMS.join(", ")
    )
}

pub(crate) fn validate_key(k: &StaticKey) -> Result<(), ConfigError> {
    let alg = k.alg.as_str();
    if !SUPPORTED_ALGORITHMS.contains(&alg) {
        return Err(k.alg_site.error(unsupported_algorithm(alg)));
    }
    let pem = k.key.trim_start().starts_with("-----BEGIN");
    let hmac = alg.starts_with("HS");
    if pem && hmac {
        return Err(k.key_site.error(format!(
            "the key is PEM-encoded (-----BEGIN ...) but the algorithm is {alg}, which uses a shared \
             secret; a PEM public key needs an asymmetric algorithm such as RS256, ES256 or EdDSA \
             (set it with {})",
            k.alg_hint
        )));
    }
    if !pem && !hmac {
        return Err(k.key_site.error(format!(
            "the algorithm {alg} needs a PEM-encoded public key (-----BEGIN PUBLIC KEY----- ...) but \
             the key is not PEM; use a PEM key, or an HS256/HS384/HS512 algorithm for a shared secret \
             (set with {})",
            k.alg_hint
        )));
    }
    Ok(())
}

pub(crate) fn check_arity(
    site: &Site,
    usage: &str,
    args: &[String],
    min: usize,
    max: usize,
) -> Result<(), ConfigError> {
    if args.len() < min {
        Err(site.error(format!("missing argument; usage: {usage}")))
    } else if args.len() > max {
        Err(site.error(format!(
            "unexpected argument {:?}; usage: {usage}",
            args[max]
        )))
    } else {
        Ok(())
    }
}

fn unknown_directive_reason(name: &str, has_block: bool) -> String {
    let looks_like_address = name.starts_with(':')
        || name.contains("://")
        || name == "localhost"
        || (name.contains('.') && !name.contains('_'));
    if has_block && looks_like_address {
        return "site blocks are not supported: write the directives at the top level or inside \
                mercure { ... }, and set the address with SERVER_NAME or the server_name directive"
            .to_owned();
    }
    match suggest(name, directive_names()) {
        Some(s) => format!("unknown directive (did you mean {s:?}?)"),
        None => "unknown directive".to_owned(),
    }
}

/// Expands Caddy's runtime `{env.NAME}` placeholders inside one argument (an unset variable
/// gives ""). Unlike `{$NAME}`, the result stays a single argument, which is why the
/// reference's Caddyfile uses it for keys (PEM keys contain spaces and newlines). Other
/// `{...}` placeholders are kept verbatim.
pub(crate) fn expand_placeholders(text: &str, env: &dyn Fn(&str) -> Option<String>) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("{env.") {
        let after = &rest[start + 5..];
        let Some(end) = after.find('}') else { break };
        out.push_str(&rest[..start]);
        out.push_str(&env(&after[..end]).unwrap_or_default());
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    out
}

fn compatibility_7_only(value: &str) -> String {
    format!("only protocol version 7 is supported (as in the reference), got {value:?}")
}

fn parse_int(s: &str) -> Result<i64, String> {
    s.parse::<i64>()
        .map_err(|_| format!("expected an integer, got {s:?}"))
}

pub(crate) fn validate_jwks_url(s: &str) -> Result<(), String> {
    let url = Url::parse(s).map_err(|e| format!("invalid URL {s:?} ({e})"))?;
    match url.scheme() {
        "https" | "http" => {
            if url.host_str().is_none_or(str::is_empty) {
                return Err(format!("missing host in {s:?}"));
            }
            Ok(())
        }
        "file" if url.path().len() > 1 => Ok(()),
        "file" => Err(format!(
            "missing path in {s:?}; expected e.g. file:///etc/mercure/jwks.json"
        )),
        scheme => Err(format!(
            "unsupported scheme {scheme:?} in {s:?}; expected an https://, http:// or file:// URL"
        )),
    }
}

/// A draft-08 resource identifier: what tokens carry in `aud` and the metadata publishes as
/// `resource` (RFC 9728: a URL, with a host, without fragment; `https` expected). Returns a
/// note when the scheme is not `https`.
fn validate_resource_identifier(s: &str) -> Result<Option<String>, String> {
    let example = "e.g. https://hub.example.com/.well-known/mercure";
    let url = Url::parse(s)
        .map_err(|e| format!("expected an absolute URL ({example}), got {s:?} ({e})"))?;
    if url.host_str().is_none_or(str::is_empty) {
        return Err(format!(
            "expected an absolute URL with a host ({example}), got {s:?}"
        ));
    }
    if url.fragment().is_some() {
        return Err(format!(
            "{s:?} has a fragment (#...), which a resource identifier must not have"
        ));
    }
    Ok((url.scheme() != "https").then(|| {
        format!(
            "the resource identifier {s:?} does not use https; strict OAuth clients (RFC 9728) \
             ignore the hub's protected resource metadata then"
        )
    }))
}

/// One `public_urls` entry: an `http`/`https` URL whose origin (`scheme://host[:port]`,
/// lowercase, default port left out) is returned. Only the origin counts, so a path, query
/// or fragment gives a note saying it is ignored.
fn public_url_origin(s: &str) -> Result<(String, Option<String>), String> {
    let expected = "expected a URL such as https://hub.example.com or http://localhost:3000";
    let url = Url::parse(s).map_err(|e| format!("invalid URL {s:?} ({e}); {expected}"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(format!(
            "unsupported scheme {:?} in {s:?}; {expected}",
            url.scheme()
        ));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(format!("missing host in {s:?}; {expected}"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(format!(
            "{s:?} has a user name or password, which a public URL must not have"
        ));
    }
    let origin = url.origin().ascii_serialization();
    let note = (url.path() != "/" || url.query().is_some() || url.fragment().is_some()).then(|| {
        format!("public_urls: only the scheme, host and port of {s:?} are used ({origin}); the rest is ignored")
    });
    Ok((origin, note))
}

/// `*`, `null`, or `scheme://host[:port]` — what browsers send in `Origin`. A `*` may appear
/// in the host (`https://*.example.com`), which the reference's CORS library supports.
fn validate_origin(o: &str) -> Result<(), String> {
    if o == "*" || o == "null" {
        return Ok(());
    }
    let expected = "expected *, null or scheme://host[:port]";
    let Some((scheme, rest)) = o.split_once("://") else {
        return Err(format!("invalid origin {o:?}: {expected}"));
    };
    let scheme_ok = scheme.starts_with(|c: char| c.is_ascii_alphabetic())
        && scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
    if !scheme_ok {
        return Err(format!("invalid scheme in origin {o:?}: {expected}"));
    }
    if let Some(stripped) = rest.strip_suffix('/')
        && !stripped.contains(['/', '?', '#'])
    {
        return Err(format!(
            "invalid origin {o:?}: remove the trailing slash (browsers send {scheme}://{stripped})"
        ));
    }
    if rest.contains(['/', '?', '#', '@']) {
        return Err(format!(
            "invalid origin {o:?}: an origin has no path, query, fragment or user; {expected}"
        ));
    }
    let probe = format!("http://{}", rest.replace('*', "wildcard"));
    match Url::parse(&probe) {
        Ok(url) if url.host_str().is_some_and(|h| !h.is_empty()) => Ok(()),
        _ => Err(format!("invalid host or port in origin {o:?}: {expected}")),
    }
}

/// RFC 6265 cookie-name token: visible ASCII without separators.
fn validate_cookie_name(name: &str) -> Result<(), String> {
    let valid = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_graphic() && !"()<>@,;:\\\"/[]?={}".contains(c));
    if valid {
        Ok(())
    } else {
        Err(format!(
            "invalid cookie name {name:?}: use letters, digits and !#$%&'*+-.^_`|~ only"
        ))
    }
}

fn deprecated_dsn_warning(prefix: &str, transport: &TransportConfig) -> String {
    let names: Vec<&str> = transport.options.iter().map(|o| o.name.as_str()).collect();
    if names.is_empty() {
        format!(
            "{prefix}; use the directive `transport {}` instead",
            transport.kind
        )
    } else {
        format!(
            "{prefix}; use the directive `transport {} {{ ... }}` instead, with the options {}",
            transport.kind,
            names.join(", ")
        )
    }
}

/// Edit distance counting insertions, deletions, substitutions and swaps of adjacent
/// characters (optimal string alignment), so `blot` is 1 away from `bolt`.
fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut d = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in d[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut best = (d[i - 1][j] + 1)
                .min(d[i][j - 1] + 1)
                .min(d[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(d[i - 2][j - 2] + 1);
            }
            d[i][j] = best;
        }
    }
    d[a.len()][b.len()]
}

/// The closest candidate within edit distance 2 (1 for words shorter than 6 characters, so
/// that short unrelated words do not get absurd suggestions), if any.
pub(crate) fn suggest<'a>(
    word: &str,
    candidates: impl Iterator<Item = &'a str>,
) -> Option<&'a str> {
    let max = if word.chars().count() < 6 { 1 } else { 2 };
    candidates
        .map(|c| (edit_distance(word, c), c))
        .filter(|(d, _)| *d <= max)
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edit_distances() {
        assert_eq!(edit_distance("", ""), 0);
        assert_eq!(edit_distance("abc", ""), 3);
        assert_eq!(edit_distance("hearbeat", "heartbeat"), 1);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(edit_distance("blot", "bolt"), 1);
        assert_eq!(
            suggest("blot", KNOWN_TRANSPORTS.iter().copied()),
            Some("bolt")
        );
        assert_eq!(suggest("nope", directive_names()), None);
        assert_eq!(suggest("nmae", directive_names()), Some("name"));
        assert_eq!(suggest("anonymus", directive_names()), Some("anonymous"));
        assert_eq!(
            suggest("subscription", directive_names()),
            Some("subscriptions")
        );
        assert_eq!(suggest("xyz", directive_names()), None);
    }

    #[test]
    fn placeholders() {
        let env = |n: &str| match n {
            "A" => Some("1".to_owned()),
            "PEM" => Some("-----BEGIN X-----\nabc\n-----END X-----".to_owned()),
            _ => None,
        };
        assert_eq!(expand_placeholders("{env.A}", &env), "1");
        assert_eq!(expand_placeholders("x{env.A}y{env.A}", &env), "x1y1");
        assert_eq!(expand_placeholders("{env.UNSET}", &env), "");
        assert_eq!(
            expand_placeholders("{env.PEM}", &env),
            "-----BEGIN X-----\nabc\n-----END X-----"
        );
        assert_eq!(
            expand_placeholders("{http.request.host}", &env),
            "{http.request.host}"
        );
        assert_eq!(expand_placeholders("{env.A", &env), "{env.A");
    }

    #[test]
    fn origins() {
        for ok in [
            "*",
            "null",
            "https://example.com",
            "http://localhost:3000",
            "https://*.example.com",
            "http://[::1]:8080",
            "chrome-extension://abcdef",
        ] {
            assert!(validate_origin(ok).is_ok(), "{ok}");
        }
        for (bad, needle) in [
            ("example.com", "expected *, null"),
            ("https://example.com/", "trailing slash"),
            ("https://example.com/path", "no path"),
            ("https://u@example.com", "no path, query, fragment or user"),
            ("https://", "invalid host"),
            ("https://exa mple.com", "invalid host"),
            ("https://example.com:99999", "invalid host or port"),
            ("1http://x", "invalid scheme"),
            ("", "expected *, null"),
        ] {
            match validate_origin(bad) {
                Ok(()) => panic!("{bad:?} should be refused"),
                Err(e) => assert!(e.contains(needle), "{bad:?}: {e}"),
            }
        }
    }

    #[test]
    fn cookie_names() {
        assert!(validate_cookie_name("mercureAuthorization").is_ok());
        assert!(validate_cookie_name("__Host-mercure_token").is_ok());
        for bad in ["", "a b", "a;b", "a=b", "é"] {
            assert!(validate_cookie_name(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn jwks_urls() {
        for ok in [
            "https://idp.example.com/.well-known/jwks.json",
            "http://keycloak:8080/certs",
            "file:///etc/mercure/jwks.json",
        ] {
            assert!(validate_jwks_url(ok).is_ok(), "{ok}");
        }
        for (bad, needle) in [
            ("ftp://x/jwks", "unsupported scheme"),
            ("jwks.json", "invalid URL"),
            ("file:///", "missing path"),
        ] {
            match validate_jwks_url(bad) {
                Ok(()) => panic!("{bad:?} should be refused"),
                Err(e) => assert!(e.contains(needle), "{bad:?}: {e}"),
            }
        }
    }
}
