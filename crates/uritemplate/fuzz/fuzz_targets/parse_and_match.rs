//! Feeds arbitrary templates and topics to the parser and matcher: neither
//! may panic, whatever the input, since both come from the network.

#![no_main]

use libfuzzer_sys::fuzz_target;
use quicksilver_uritemplate::{UriTemplate, looks_like_template};

fuzz_target!(|data: &[u8]| {
    let Ok(input) = std::str::from_utf8(data) else {
        return;
    };
    // The first newline separates the template from the topic.
    let (template, topic) = input.split_once('\n').unwrap_or((input, ""));
    let _ = looks_like_template(template);
    if let Ok(parsed) = UriTemplate::parse(template) {
        assert_eq!(parsed.as_str(), template);
        let _ = parsed.is_match(topic);
        // A template without expressions matches exactly itself.
        if !template.contains('{') {
            assert!(parsed.is_match(template));
        }
    }
});
