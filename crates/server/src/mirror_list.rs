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
            None => format!("https://{bucket}.s3.{region}.amazonaws.com"),
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
                Some(next) if page.truncated => token = Some(next),
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

/// Reads a ListObjectsV2 answer (`encoding-type=url`: keys are percent-encoded, `+` a space).
fn parse_page(xml: &[u8]) -> Result<Page, String> {
    let mut reader = quick_xml::Reader::from_reader(xml);
    let mut page = Page::default();
    let mut path: Vec<Vec<u8>> = Vec::new();
    let mut object: Option<(String, u64, String, Option<String>)> = None;
    let mut buf = Vec::new();
    loop {
        match reader.read_event_into(&mut buf).map_err(|e| format!("listing: {e}"))? {
            Event::Start(start) => {
                let name = start.local_name().as_ref().as_bytes().to_vec();
                if name == b"Contents" {
                    object = Some((String::new(), 0, String::new(), None));
                }
                path.push(name);
            }
            Event::End(_) => {
                if path.pop().as_deref() == Some(b"Contents")
                    && let Some((key, size, modified, e_tag)) = object.take()
                {
                    page.objects.push(listed(key, size, &modified, e_tag));
                }
            }
            Event::Text(text) => {
                // Entities come as references of their own; a text event holds none.
                let text: &str = text.as_ref();
                let text = text.trim();
                match (path.len(), path.last().map(Vec::as_slice), &mut object) {
                    (2, Some(b"IsTruncated"), _) => page.truncated = text == "true",
                    (2, Some(b"NextContinuationToken"), _) => {
                        page.next.get_or_insert_default().push_str(text);
                    }
                    (3, Some(b"Key"), Some(o)) => o.0 = url_decoded(text),
                    (3, Some(b"Size"), Some(o)) => o.1 = text.parse().unwrap_or(0),
                    (3, Some(b"LastModified"), Some(o)) => o.2 = text.to_owned(),
                    (3, Some(b"ETag"), Some(o)) => o.3.get_or_insert_default().push_str(text),
                    _ => {}
                }
            }
            Event::GeneralRef(reference) => {
                // An entity in a token or ETag (`&quot;`): quick-xml hands it apart.
                let resolved = match reference.as_ref() {
                    "quot" => "\"",
                    "amp" => "&",
                    "lt" => "<",
                    "gt" => ">",
                    "apos" => "'",
                    _ => "",
                };
                match (path.last().map(Vec::as_slice), &mut object) {
                    (Some(b"ETag"), Some(o)) => o.3.get_or_insert_default().push_str(resolved),
                    (Some(b"NextContinuationToken"), _) => {
                        page.next.get_or_insert_default().push_str(resolved);
                    }
                    _ => {}
                }
            }
            Event::Eof => return Ok(page),
            _ => {}
        }
        buf.clear();
    }
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
}
