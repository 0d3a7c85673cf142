//! The few XML documents of the S3 API the adapter reads and writes.

use byoc_guest_sdk::{Error, Result};

/// One ListObjectsV2 page.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Listing {
    /// Object names and sizes, in the store's order.
    pub objects: Vec<(String, u64)>,
    /// Whether more objects follow.
    pub truncated: bool,
    /// The token of the next page.
    pub next_token: Option<String>,
}

fn parse(body: &[u8]) -> Result<roxmltree::Document<'_>> {
    let text = std::str::from_utf8(body)
        .map_err(|_| Error::Unavailable("S3 sent an answer that is not UTF-8".into()))?;
    roxmltree::Document::parse(text)
        .map_err(|e| Error::Unavailable(format!("S3 sent an answer that is not XML: {e}")))
}

fn child_text<'a>(node: roxmltree::Node<'a, 'a>, name: &str) -> Option<&'a str> {
    node.children()
        .find(|c| c.tag_name().name() == name)
        .map(|c| c.text().unwrap_or_default())
}

/// Parses a ListObjectsV2 answer.
pub(crate) fn listing(body: &[u8]) -> Result<Listing> {
    let doc = parse(body)?;
    let root = doc.root_element();
    let mut out = Listing {
        truncated: child_text(root, "IsTruncated") == Some("true"),
        next_token: child_text(root, "NextContinuationToken").map(str::to_owned),
        ..Listing::default()
    };
    for contents in root
        .children()
        .filter(|c| c.tag_name().name() == "Contents")
    {
        let Some(key) = child_text(contents, "Key") else {
            continue;
        };
        let size = child_text(contents, "Size")
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        out.objects.push((key.to_owned(), size));
    }
    Ok(out)
}

/// The `Code` of an error answer, if the body is one.
pub(crate) fn error_code(body: &[u8]) -> Option<String> {
    if body.is_empty() {
        return None;
    }
    let doc = parse(body).ok()?;
    let root = doc.root_element();
    (root.tag_name().name() == "Error")
        .then(|| child_text(root, "Code").map(str::to_owned))
        .flatten()
}

/// The first per-object error of a DeleteObjects answer.
pub(crate) fn first_delete_error(body: &[u8]) -> Option<String> {
    let doc = parse(body).ok()?;
    let error = doc
        .root_element()
        .children()
        .find(|c| c.tag_name().name() == "Error")?;
    Some(format!(
        "{} ({})",
        child_text(error, "Code").unwrap_or("unknown"),
        child_text(error, "Key").unwrap_or_default()
    ))
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// A quiet DeleteObjects request for `names`.
pub(crate) fn delete_request(names: &[String]) -> Vec<u8> {
    let mut out = String::from("<Delete><Quiet>true</Quiet>");
    for name in names {
        out.push_str("<Object><Key>");
        out.push_str(&escape(name));
        out.push_str("</Key></Object>");
    }
    out.push_str("</Delete>");
    out.into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listings_parse() {
        let body = br#"<?xml version="1.0" encoding="UTF-8"?>
<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Name>b</Name>
<Contents><Key>c/a%20b</Key><Size>3</Size></Contents>
<Contents><Key>c/x&amp;y</Key><Size>10</Size></Contents>
<IsTruncated>true</IsTruncated><NextContinuationToken>t1</NextContinuationToken>
</ListBucketResult>"#;
        let l = listing(body).expect("parse");
        assert_eq!(
            l.objects,
            [("c/a%20b".to_owned(), 3), ("c/x&y".to_owned(), 10)]
        );
        assert!(l.truncated);
        assert_eq!(l.next_token.as_deref(), Some("t1"));
        assert!(listing(b"not xml").is_err());
    }

    #[test]
    fn errors_parse() {
        let body = b"<Error><Code>NoSuchKey</Code><Message>m</Message></Error>";
        assert_eq!(error_code(body).as_deref(), Some("NoSuchKey"));
        assert_eq!(error_code(b""), None);
        assert_eq!(error_code(b"<CopyObjectResult/>"), None);
        let deleted =
            b"<DeleteResult><Error><Key>k</Key><Code>AccessDenied</Code></Error></DeleteResult>";
        assert_eq!(
            first_delete_error(deleted).as_deref(),
            Some("AccessDenied (k)")
        );
        assert_eq!(
            delete_request(&["a<b".into()]),
            b"<Delete><Quiet>true</Quiet><Object><Key>a&lt;b</Key></Object></Delete>"
        );
    }
}
