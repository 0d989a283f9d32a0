//! The single error type of this crate.
//!
//! Every variant renders a precise, human-readable reason because these
//! strings end up in the hub's logs ("Authorization error" lines): an operator
//! debugging a 401 needs to know *why* a token was refused (expired? wrong
//! key? wrong algorithm?) without re-decoding the token by hand. The HTTP
//! layer never shows them to clients (draft-07 answers a bare 401, draft-08
//! a 401 `invalid_token` for every token error).

use std::fmt;

/// Why a key could not be loaded, a token could not be verified, or a token
/// could not be minted.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    // ----- configuration (start-up) errors -----
    /// The configured algorithm name is not one this hub supports.
    #[error(
        "unsupported algorithm {name:?}: expected one of {}",
        crate::keys::SUPPORTED_ALGORITHMS
    )]
    UnsupportedAlgorithm {
        /// The name as configured.
        name: String,
    },

    /// The configured key cannot be used with the configured algorithm.
    #[error("invalid {alg} key: {reason}")]
    InvalidKey {
        /// Algorithm the key was meant for.
        alg: String,
        /// What is wrong with it.
        reason: String,
    },

    /// The JWKS URL is not usable (bad syntax or unsupported scheme).
    #[error("invalid JWKS URL {url:?}: {reason}")]
    InvalidJwksUrl {
        /// The URL as configured.
        url: String,
        /// What is wrong with it.
        reason: String,
    },

    /// The JWKS document could not be retrieved.
    #[error("cannot fetch JWKS from {url}: {reason}")]
    JwksFetch {
        /// Where it was fetched from.
        url: String,
        /// Transport-level reason (I/O error, HTTP status, timeout...).
        reason: String,
    },

    /// The JWKS document was retrieved but is not a usable key set.
    #[error("invalid JWKS from {url}: {reason}")]
    JwksInvalid {
        /// Where it was fetched from.
        url: String,
        /// What is wrong with it.
        reason: String,
    },

    /// A draft-08 verifier was given an algorithm list it cannot honour
    /// (an empty list, or a list for a static key, which pins its own
    /// algorithm).
    #[error("invalid algorithm list: {0}")]
    InvalidAlgorithmList(String),

    /// A trusted issuer cannot be configured as given (empty identifier,
    /// the same identifier twice).
    #[error("invalid issuer configuration: {0}")]
    InvalidIssuerConfig(String),

    // ----- token errors -----
    /// The token is not a well-formed JWS compact serialization, or its
    /// header / claims are not the JSON shapes JWT requires.
    #[error("malformed token: {0}")]
    Malformed(String),

    /// The token's `alg` is not accepted by the key that would verify it.
    /// This is what stops `alg: none` and RSA/HMAC key-confusion attacks.
    #[error("algorithm {alg} not allowed: {accepted_by} accepts {allowed}")]
    AlgorithmNotAllowed {
        /// The `alg` header of the token.
        alg: String,
        /// Who made the decision, e.g. "this verifier" or "key kid1 of JWKS https://...".
        accepted_by: String,
        /// The accepted algorithm names, comma separated.
        allowed: String,
    },

    /// The signature does not match the key(s) tried.
    #[error("signature invalid")]
    SignatureInvalid,

    /// The verification key was rejected by the crypto backend while
    /// checking this token (e.g. a JWKS entry with a malformed modulus).
    #[error("verification key unusable: {0}")]
    KeyRejected(String),

    /// The token's `kid` is not in the key set, even after a refresh attempt.
    #[error("no key with kid {kid} in JWKS {url}{note}")]
    UnknownKid {
        /// The `kid` header of the token.
        kid: String,
        /// The JWKS URL.
        url: String,
        /// Extra context, e.g. " (refresh rate-limited)"; empty when none.
        note: String,
    },

    /// The token has no `kid` and no key of the set accepts its algorithm.
    #[error("no key in JWKS {url} accepts algorithm {alg}")]
    NoCompatibleKey {
        /// The `alg` header of the token.
        alg: String,
        /// The JWKS URL.
        url: String,
    },

    /// `exp` is in the past.
    #[error("token expired at {}", Timestamp(*exp))]
    Expired {
        /// The `exp` claim (seconds since the epoch; negative values clamp to 0).
        exp: u64,
    },

    /// `nbf` is in the future.
    #[error("token not valid before {}", Timestamp(*nbf))]
    NotYetValid {
        /// The `nbf` claim (seconds since the epoch).
        nbf: u64,
    },

    /// A registered claim (`exp`, `nbf`, `iat`, `iss`, `sub`, `aud`, `jti`)
    /// has the wrong JSON type.
    #[error("invalid {claim} claim: {reason}")]
    InvalidRegisteredClaim {
        /// Claim name.
        claim: &'static str,
        /// What is wrong with it.
        reason: String,
    },

    /// The `mercure` (or namespaced) claim does not have the draft-07 shape.
    #[error("invalid mercure claim: {0}")]
    InvalidMercureClaim(String),

    /// A selector array is longer than the hub accepts.
    #[error("too many selectors in {claim}: {count} (at most {max} allowed)")]
    TooManySelectors {
        /// `"publish"` or `"subscribe"`.
        claim: &'static str,
        /// How many the token (or mint request) has.
        count: usize,
        /// The limit.
        max: usize,
    },

    // ----- draft-08 access token errors -----
    /// The JOSE `typ` header is not `at+jwt` / `application/at+jwt`
    /// (RFC 9068 §2.1): the token was not issued as an access token (it
    /// may be an ID token or a draft-07 token).
    #[error("typ header must be \"at+jwt\" or \"application/at+jwt\", got {found}")]
    InvalidTokenType {
        /// What the header held, rendered as JSON (`null` when absent).
        found: String,
    },

    /// A claim the draft-08 protocol requires (`exp`, `iss`) is absent.
    #[error("the {claim} claim is required")]
    MissingClaim {
        /// Claim name.
        claim: &'static str,
    },

    /// The (unverified) `iss` claim names no configured issuer.
    #[error("untrusted issuer {iss:?}")]
    UntrustedIssuer {
        /// The `iss` claim of the token.
        iss: String,
    },

    /// The issuer is trusted, but not for this role (no publisher or no
    /// subscriber key configured for it).
    #[error("issuer {iss:?} is not trusted for {role} tokens")]
    RoleNotAccepted {
        /// The issuer identifier.
        iss: String,
        /// `"publisher"` or `"subscriber"`.
        role: crate::Role,
    },

    /// The verified `iss` differs from the issuer whose key verified the
    /// token (a guard: both come from the same payload).
    #[error("iss claim {found:?} does not match issuer {expected:?}")]
    IssuerMismatch {
        /// The configured issuer identifier.
        expected: String,
        /// The verified `iss` claim.
        found: String,
    },

    /// `aud` does not contain the hub's resource identifier.
    #[error("aud claim {found} does not contain {expected:?}")]
    AudienceMismatch {
        /// The resource identifier the hub expected.
        expected: String,
        /// The `aud` claim rendered as JSON (`null` when absent).
        found: String,
    },

    /// A Mercure entry of `authorization_details` does not have the shape
    /// the protocol requires; the whole token is refused.
    #[error("invalid authorization_details: {0}")]
    InvalidAuthorizationDetails(String),

    /// More Mercure authorization details than the hub accepts.
    #[error("too many Mercure authorization details (at most {max} allowed)")]
    TooManyAuthorizationDetails {
        /// The limit.
        max: usize,
    },

    /// More topic matchers, summed across Mercure authorization details,
    /// than the hub accepts.
    #[error("too many topic matchers in authorization_details (at most {max} allowed)")]
    TooManyTopicMatchers {
        /// The limit.
        max: usize,
    },

    // ----- minting -----
    /// A token could not be signed.
    #[error("cannot sign token: {0}")]
    Mint(String),
}

impl AuthError {
    /// True for errors caused by the presented token (as opposed to the
    /// hub's configuration or the key server); the HTTP layer may want to log
    /// the two kinds at different levels.
    #[must_use]
    pub fn is_token_error(&self) -> bool {
        !matches!(
            self,
            AuthError::UnsupportedAlgorithm { .. }
                | AuthError::InvalidKey { .. }
                | AuthError::InvalidJwksUrl { .. }
                | AuthError::JwksFetch { .. }
                | AuthError::JwksInvalid { .. }
                | AuthError::KeyRejected(_)
                | AuthError::InvalidAlgorithmList(_)
                | AuthError::InvalidIssuerConfig(_)
                | AuthError::Mint(_)
        )
    }
}

/// Formats seconds since the epoch as an RFC 3339 UTC timestamp, so log
/// lines read "token expired at 2026-01-02T03:04:05Z" instead of a raw number.
/// Implemented locally to avoid pulling a date crate for one formatter.
pub(crate) struct Timestamp(pub(crate) u64);

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let secs = self.0;
        let days = secs / 86_400;
        let rem = secs % 86_400;
        let (h, m, s) = (rem / 3600, (rem % 3600) / 60, rem % 60);
        // Civil-from-days (Howard Hinnant's algorithm), on u64/i128 so that
        // absurd far-future values cannot overflow.
        let z = i128::from(days) + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z - era * 146_097;
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let day = doy - (153 * mp + 2) / 5 + 1;
        let month = if mp < 10 { mp + 3 } else { mp - 9 };
        let year = yoe + era * 400 + i128::from(month <= 2);
        write!(
            f,
            "{year:04}-{month:02}-{day:02}T{h:02}:{m:02}:{s:02}Z ({secs})"
        )
    }
}

#[cfg(test)]
mod tests {
    use super::Timestamp;

    #[test]
    fn formats_rfc3339() {
        assert_eq!(Timestamp(0).to_string(), "1970-01-01T00:00:00Z (0)");
        assert_eq!(
            Timestamp(4_102_444_800).to_string(),
            "2100-01-01T00:00:00Z (4102444800)"
        );
        assert_eq!(
            Timestamp(951_782_400).to_string(),
            "2000-02-29T00:00:00Z (951782400)"
        );
        assert_eq!(
            Timestamp(1_767_323_045).to_string(),
            "2026-01-02T03:04:05Z (1767323045)"
        );
    }
}
