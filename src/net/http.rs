//! HTTPS to a sign-in provider's token endpoints, for the `oauth2` crate:
//! ureq with the system's TLS and certificate store (the same native-tls
//! as POP3), timeouts, never a redirect (a token endpoint that redirects
//! is not followed, RFC 6749 §3.2), a cap on what is read, and a cancel
//! that makes the next request fail at once.

use std::io::Read as _;
use std::sync::Arc;
use std::time::Duration;

use oauth2::http;
use oauth2::{HttpRequest, HttpResponse, SyncHttpClient};

use super::CancelToken;

/// A token endpoint's answer is a few kilobytes; more is refused.
const MAX_BODY: u64 = 1024 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    #[error("{0}")]
    Transport(String),
    #[error("cancelled")]
    Cancelled,
}

/// A blocking HTTP client for the token, device and refresh requests.
pub struct HttpClient {
    agent: ureq::Agent,
    cancel: CancelToken,
}

impl HttpClient {
    pub fn new(cancel: CancelToken) -> Result<HttpClient, HttpError> {
        let tls = native_tls::TlsConnector::builder()
            .min_protocol_version(Some(native_tls::Protocol::Tlsv12))
            .build()
            .map_err(|e| HttpError::Transport(e.to_string()))?;
        let agent = ureq::AgentBuilder::new()
            .tls_connector(Arc::new(tls))
            .redirects(0)
            .timeout_connect(Duration::from_secs(15))
            .timeout(Duration::from_secs(30))
            .user_agent(concat!("Letterbox/", env!("CARGO_PKG_VERSION")))
            .build();
        Ok(HttpClient { agent, cancel })
    }
}

impl SyncHttpClient for HttpClient {
    type Error = HttpError;

    fn call(&self, request: HttpRequest) -> Result<HttpResponse, HttpError> {
        if self.cancel.is_cancelled() {
            return Err(HttpError::Cancelled);
        }
        let mut call = self
            .agent
            .request(request.method().as_str(), &request.uri().to_string());
        for (name, value) in request.headers() {
            let value = value
                .to_str()
                .map_err(|_| HttpError::Transport(format!("header {name} is not text")))?;
            call = call.set(name.as_str(), value);
        }
        let response = match call.send_bytes(request.body()) {
            Ok(response) => response,
            // An error status still carries the provider's JSON answer
            // (invalid_grant, authorization_pending, ...).
            Err(ureq::Error::Status(_, response)) => response,
            Err(ureq::Error::Transport(e)) => return Err(HttpError::Transport(e.to_string())),
        };
        let mut builder = http::Response::builder().status(response.status());
        for name in response.headers_names() {
            if let Some(value) = response.header(&name) {
                builder = builder.header(name.as_str(), value);
            }
        }
        let mut body = Vec::new();
        response
            .into_reader()
            .take(MAX_BODY)
            .read_to_end(&mut body)
            .map_err(|e| HttpError::Transport(e.to_string()))?;
        builder
            .body(body)
            .map_err(|e| HttpError::Transport(e.to_string()))
    }
}
