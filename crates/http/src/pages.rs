//! The few static answers outside the hub path: a welcome page, `robots.txt` and `/healthz`,
//! as the reference hub's default configuration serves them.

use http::StatusCode;

use crate::response::{Resp, with_type};

pub fn welcome() -> Resp {
    with_type(
        StatusCode::OK,
        "text/html; charset=utf-8",
        concat!(
            "<!DOCTYPE html>\n<html lang=en>\n<meta charset=\"utf-8\">\n",
            "<meta name=\"robots\" content=\"noindex\">\n",
            "<title>Quicksilver: a Mercure hub</title>\n",
            "<h1>Quicksilver, a Mercure hub</h1>\n",
            "<p>The hub is served at <code>/.well-known/mercure</code>. ",
            "See <a href=\"https://mercure.rocks\">mercure.rocks</a> for the protocol.\n"
        ),
    )
}

pub fn robots() -> Resp {
    with_type(
        StatusCode::OK,
        "text/plain; charset=utf-8",
        "User-agent: *\nDisallow: /",
    )
}

pub fn healthz() -> Resp {
    with_type(StatusCode::OK, "text/plain; charset=utf-8", "")
}
