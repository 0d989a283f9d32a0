//! The keys of one stream. Every key carries the hash tag `{NAME}`, so in a Redis Cluster they
//! all live in one hash slot, on one node, and a Lua script may touch several of them.

/// The key names derived from the `stream` option.
#[derive(Debug, Clone)]
pub struct Keys {
    /// `{NAME}`: the stream of updates.
    pub stream: String,
    /// `{NAME}:ids`: hash, event id -> entry id of its first occurrence still in the stream.
    pub ids: String,
    /// `{NAME}:ids:order`: list of `"<entry id> <event id>"`, oldest first, one per indexed id,
    /// so the index can be trimmed with the stream without scanning it.
    pub id_order: String,
    /// `{NAME}:nodes`: sorted set, node id -> heartbeat deadline in ms (Redis's clock).
    pub nodes: String,
    /// `{NAME}:presence:`: prefix of the per-node hashes, subscriber id -> JSON record.
    pub presence_prefix: String,
}

impl Keys {
    pub fn new(stream: &str) -> Keys {
        let tag = format!("{{{stream}}}");
        Keys {
            ids: format!("{tag}:ids"),
            id_order: format!("{tag}:ids:order"),
            nodes: format!("{tag}:nodes"),
            presence_prefix: format!("{tag}:presence:"),
            stream: tag,
        }
    }

    /// The hash of one node's subscribers.
    pub fn presence(&self, node: &str) -> String {
        format!("{}{node}", self.presence_prefix)
    }

    /// Every fixed key (the presence hashes are found through [`Keys::nodes`]).
    pub fn fixed(&self) -> [&str; 4] {
        [&self.stream, &self.ids, &self.id_order, &self.nodes]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_key_shares_the_hash_tag() {
        let k = Keys::new("mercure");
        assert_eq!(k.stream, "{mercure}");
        assert_eq!(k.ids, "{mercure}:ids");
        assert_eq!(k.id_order, "{mercure}:ids:order");
        assert_eq!(k.nodes, "{mercure}:nodes");
        assert_eq!(k.presence("urn:uuid:x"), "{mercure}:presence:urn:uuid:x");
    }
}
