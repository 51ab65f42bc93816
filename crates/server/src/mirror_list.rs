//! Listing an S3 bucket without object_store's listing: that one turns each page of keys into
//! object_store paths and fails the whole page on one key it cannot represent (an empty
//! segment `a//b`, a control character, a `.` or `..` segment), so a single odd object would
//! stop a replica from following the store, and would hide up to a thousand good keys listed
//! beside it. Here each page of ListObjectsV2 is read as it comes (keys URL-encoded, so that
//! any key survives the XML), every key is handed back as the store spells it, and the caller
//! decides key by key. Requests are signed by object_store's own SigV4 code with the store's
//! credentials; objects are still fetched through object_store.

use std::sync::Arc;
use std::time::Duration;

use object_store::ObjectMeta;
use object_store::aws::{AmazonS3, AmazonS3Builder, AmazonS3ConfigKey, AwsAuthorizer};
use object_store::client::{HttpRequest, HttpRequestBody};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use quick_xml::events::Event;

use crate::Error;

/// What SigV4 leaves unencoded in a query value: letters, digits and `-._~`.
const QUERY_VALUE: &AsciiSet =
    &NON_ALPHANUMERIC.remove(b'-').remove(b'.').remove(b'_').remove(b'~');

/// One listed object: its key as the store spells it, and what a listing says of it.
#[derive(Debug, Clone)]
pub(crate) struct Listed {
    /// The whole key (the prefix included), decoded.
    pub(crate) key: String,
    /// What object_store makes of it, when it can: what the mirror fetches.
    pub(crate) meta: Option<ObjectMeta>,
}

/// A bucket's lister.
#[derive(Debug)]
pub(crate) struct S3Lister {
    client: reqwest::Client,
    store: Arc<AmazonS3>,
    /// The bucket's URL, without a query.
    url: String,
    region: String,
    source: String,
}

impl S3Lister {
    /// A lister for the bucket `builder` is set up for, as `store` (built from it) reaches it.
    pub(crate) fn new(
        builder: &AmazonS3Builder,
        store: Arc<AmazonS3>,
        bucket: &str,
        timeout: Duration,
        source: &str,
    ) -> Result<Self, Error> {
        let config = |key| builder.get_config_value(&key);
        let region = config(AmazonS3ConfigKey::Region).unwrap_or_else(|| "us-east-1".to_owned());
        let virtual_hosted = config(AmazonS3ConfigKey::VirtualHostedStyleRequest)
            .is_some_and(|v| v.eq_ignore_ascii_case("true"));
        let url = match config(AmazonS3ConfigKey::Endpoint) {
            // With virtual-hosted requests the endpoint names the bucket already.
            Some(endpoint) if virtual_hosted => endpoint.trim_end_matches('/').to_owned(),
            Some(endpoint) => format!("{}/{bucket}", endpoint.trim_end_matches('/')),
            // As object_store reaches AWS: path-style unless virtual-hosted requests are asked
            // for (a bucket name with dots has no certificate as a host name).
            None if virtual_hosted => format!("https://{bucket}.s3.{region}.amazonaws.com"),
            None => format!("https://s3.{region}.amazonaws.com/{bucket}"),
        };
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(Duration::from_secs(5))
            .build()
            .map_err(|e| Error::Source { source_url: source.to_owned(), reason: e.to_string() })?;
        Ok(Self { client, store, url, region, source: source.to_owned() })
    }

    /// Every key under `prefix` (`site1/`, or empty for the whole bucket), page by page.
    pub(crate) async fn list(&self, prefix: &str) -> Result<Vec<Listed>, Error> {
        let mut listed = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let mut query = format!(
                "list-type=2&encoding-type=url&prefix={}",
                utf8_percent_encode(prefix, QUERY_VALUE)
            );
            if let Some(token) = &token {
                query.push_str("&continuation-token=");
                query.extend(utf8_percent_encode(token, QUERY_VALUE));
            }
            let body = self.get(&format!("{}?{query}", self.url)).await?;
            let page = parse_page(&body).map_err(|reason| self.refused(reason))?;
            listed.extend(page.objects);
            match page.next {
                // A server that hands back the token it was given would list forever.
                Some(next) if page.truncated && token.as_ref() != Some(&next) => token = Some(next),
                Some(_) if page.truncated => {
                    return Err(self.refused("listing: the same continuation token twice".into()));
                }
                _ => return Ok(listed),
            }
        }
    }

    /// A signed GET; the body of a 200.
    async fn get(&self, url: &str) -> Result<Vec<u8>, Error> {
        let credential =
            self.store.credentials().get_credential().await.map_err(|e| Error::Store {
                source_url: self.source.clone(),
                source: Box::new(e),
            })?;
        let mut request: HttpRequest = http::Request::builder()
            .method(http::Method::GET)
            .uri(url)
            .body(HttpRequestBody::from(Vec::new()))
            .map_err(|e| self.refused(e.to_string()))?;
        AwsAuthorizer::new(&credential, "s3", &self.region)
            .try_authorize(&mut request, None)
            .map_err(|e| Error::Store { source_url: self.source.clone(), source: Box::new(e) })?;
        let mut call = self.client.get(url);
        for (name, value) in request.headers() {
            call = call.header(name.as_str(), value.as_bytes());
        }
        let response = call.send().await.map_err(|e| self.refused(e.to_string()))?;
        let status = response.status();
        let body = response.bytes().await.map_err(|e| self.refused(e.to_string()))?;
        if !status.is_success() {
            let text = String::from_utf8_lossy(&body);
            return Err(self.refused(format!("listing: HTTP {status}: {}", text.trim())));
        }
        Ok(body.to_vec())
    }

    fn refused(&self, reason: String) -> Error {
        Error::Source { source_url: self.source.clone(), reason }
    }
}

/// One page of a ListObjectsV2 answer.
#[derive(Debug, Default)]
struct Page {
    objects: Vec<Listed>,
    truncated: bool,
    next: Option<String>,
}

/// Reads a ListObjectsV2 answer. Anything else (another root element, no `IsTruncated`, a
/// truncated page with no token) is an error, never an empty listing: the mirror would read
/// that as every object deleted. Keys are decoded when the page says `EncodingType` `url`.
fn parse_page(xml: &[u8]) -> Result<Page, String> {
    let bad = |what: &str| format!("listing: {what}");
    let mut reader = quick_xml::Reader::from_reader(xml);
    let mut page = Page::default();
    let mut path: Vec<String> = Vec::new();
    // The text of the element being read: fragments and references, joined.
    let mut text = String::new();
    let mut truncated = None;
    let mut url_encoded = false;
    let mut object: Option<(String, u64, String, Option<String>)> = None;
    let mut objects = Vec::new();
    let mut buf = Vec::new();
    loop {
        match reader.read_event_into(&mut buf).map_err(|e| bad(&e.to_string()))? {
            Event::Start(start) => {
                let name = start.local_name().as_ref().to_owned();
                if path.is_empty() && name != "ListBucketResult" {
                    return Err(bad(&format!("a {name} where ListBucketResult was expected")));
                }
                if path.len() == 1 && name == "Contents" {
                    object = Some((String::new(), 0, String::new(), None));
                }
                path.push(name);
                text.clear();
            }
            Event::End(_) => {
                let value = text.trim();
                match (path.len(), path.last().map(String::as_str), &mut object) {
                    (2, Some("IsTruncated"), _) => truncated = Some(value == "true"),
                    (2, Some("NextContinuationToken"), _) => page.next = Some(value.to_owned()),
                    (2, Some("EncodingType"), _) => url_encoded = value == "url",
                    (3, Some("Key"), Some(o)) => o.0 = value.to_owned(),
                    (3, Some("Size"), Some(o)) => {
                        o.1 = value.parse().map_err(|_| bad(&format!("a Size of {value:?}")))?;
                    }
                    (3, Some("LastModified"), Some(o)) => o.2 = value.to_owned(),
                    (3, Some("ETag"), Some(o)) => o.3 = Some(value.to_owned()),
                    (2, Some("Contents"), _) => {
                        objects.extend(object.take());
                    }
                    _ => {}
                }
                path.pop();
                text.clear();
            }
            Event::Empty(empty) if path.is_empty() => {
                let name = empty.local_name().as_ref().to_owned();
                return Err(bad(&format!("an empty {name} where ListBucketResult was expected")));
            }
            Event::Text(fragment) => text.push_str(fragment.as_ref()),
            Event::GeneralRef(reference) => match reference.resolve_char_ref() {
                Ok(Some(c)) => text.push(c),
                _ => text.push_str(match reference.as_ref() {
                    "quot" => "\"",
                    "amp" => "&",
                    "lt" => "<",
                    "gt" => ">",
                    "apos" => "'",
                    other => return Err(bad(&format!("an unknown entity &{other};"))),
                }),
            },
            Event::Eof => break,
            _ => {}
        }
        buf.clear();
    }
    page.truncated = truncated.ok_or_else(|| bad("no IsTruncated: not a ListObjectsV2 answer"))?;
    if page.truncated && page.next.as_deref().is_none_or(str::is_empty) {
        return Err(bad("a truncated page with no continuation token"));
    }
    page.objects = objects
        .into_iter()
        .map(|(key, size, modified, e_tag)| {
            let key = if url_encoded { url_decoded(&key) } else { key };
            listed(key, size, &modified, e_tag)
        })
        .collect();
    Ok(page)
}

/// A listed key and what object_store makes of it.
fn listed(key: String, size: u64, modified: &str, e_tag: Option<String>) -> Listed {
    let meta = object_store::path::Path::parse(&key).ok().map(|location| ObjectMeta {
        location,
        last_modified: chrono::DateTime::parse_from_rfc3339(modified)
            .map(|t| t.with_timezone(&chrono::Utc))
            .unwrap_or_default(),
        size,
        e_tag,
        version: None,
    });
    Listed { key, meta }
}

/// A key of an `encoding-type=url` listing, decoded.
fn url_decoded(text: &str) -> String {
    percent_encoding::percent_decode_str(&text.replace('+', " ")).decode_utf8_lossy().into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_page_hands_back_every_key_as_the_store_spells_it() {
        let xml = br#"<?xml version="1.0" encoding="UTF-8"?>
<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">
  <Name>phones</Name><Prefix>site1/</Prefix><KeyCount>3</KeyCount><MaxKeys>1000</MaxKeys>
  <EncodingType>url</EncodingType><IsTruncated>true</IsTruncated>
  <NextContinuationToken>1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM=</NextContinuationToken>
  <Contents><Key>site1/XMLDefault.cnf.xml</Key><LastModified>2026-12-06T10:00:00.000Z</LastModified>
    <ETag>&quot;9b2cf535f27731c974343645a3985328&quot;</ETag><Size>11</Size></Contents>
  <Contents><Key>site1/bad%01name.txt</Key><LastModified>2026-12-06T10:00:01.000Z</LastModified>
    <ETag>&quot;x&quot;</ETag><Size>3</Size></Contents>
  <Contents><Key>site1/a//b+c</Key><LastModified>2026-12-06T10:00:02.000Z</LastModified><Size>0</Size></Contents>
</ListBucketResult>"#;
        let page = parse_page(xml).unwrap();
        assert!(page.truncated);
        assert_eq!(page.next.as_deref(), Some("1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM="));
        let keys: Vec<&str> = page.objects.iter().map(|o| o.key.as_str()).collect();
        assert_eq!(keys, ["site1/XMLDefault.cnf.xml", "site1/bad\u{1}name.txt", "site1/a//b c"]);
        let first = page.objects[0].meta.as_ref().unwrap();
        assert_eq!(first.size, 11);
        assert_eq!(first.e_tag.as_deref(), Some("\"9b2cf535f27731c974343645a3985328\""));
        assert_eq!(first.last_modified.to_rfc3339(), "2026-12-06T10:00:00+00:00");
        assert!(page.objects[1].meta.is_none() && page.objects[2].meta.is_none(), "unparsable");
    }

    #[test]
    fn an_answer_that_is_no_listing_is_an_error_never_an_empty_bucket() {
        for body in [
            &b"{}"[..],
            b"<Error><Code>SlowDown</Code></Error>",
            b"<ListBucketResult><Name>phones</Name></ListBucketResult>",
            b"<ListBucketResult><IsTruncated>true</IsTruncated></ListBucketResult>",
            b"<ListBucketResult/>",
            b"",
        ] {
            assert!(parse_page(body).is_err(), "{}", String::from_utf8_lossy(body));
        }
    }

    #[test]
    fn keys_are_decoded_only_when_the_page_says_so_and_entities_kept_whole() {
        let xml = br#"<ListBucketResult><IsTruncated>false</IsTruncated>
  <Contents><Key>site1/a&amp;SEP001122334455.cnf.xml</Key><Size>1</Size>
    <ETag>&#34;abc&#34;</ETag><LastModified>2026-12-06T10:00:00Z</LastModified></Contents>
  <Contents><Key>site1/100%+x.txt</Key><Size>2</Size><LastModified>2026-12-06T10:00:00Z</LastModified></Contents>
</ListBucketResult>"#;
        let page = parse_page(xml).unwrap();
        let keys: Vec<&str> = page.objects.iter().map(|o| o.key.as_str()).collect();
        assert_eq!(keys, ["site1/a&SEP001122334455.cnf.xml", "site1/100%+x.txt"]);
        assert_eq!(page.objects[0].meta.as_ref().unwrap().e_tag.as_deref(), Some("\"abc\""));
    }
}
