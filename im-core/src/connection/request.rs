//! The HTTP request that opened a WebSocket connection, as the application sees it.

use tokio_tungstenite::tungstenite::handshake::server::Request as HttpRequest;

/// The upgrade request of a connection: path, query and headers, copied out of the
/// handshake so that the application can route or authenticate on them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Request {
    path: String,
    query: Option<String>,
    headers: Vec<(String, String)>,
}

impl Request {
    pub(crate) fn from_http(request: &HttpRequest) -> Self {
        let uri = request.uri();
        Self {
            path: uri.path().to_owned(),
            query: uri.query().map(str::to_owned),
            headers: request
                .headers()
                .iter()
                .filter_map(|(k, v)| Some((k.as_str().to_owned(), v.to_str().ok()?.to_owned())))
                .collect(),
        }
    }

    /// A request for `path_and_query` (e.g. `/ws?user=u1`) with no headers (for tests).
    pub fn new(path_and_query: &str) -> Self {
        let (path, query) = match path_and_query.split_once('?') {
            Some((p, q)) => (p, Some(q.to_owned())),
            None => (path_and_query, None),
        };
        Self {
            path: path.to_owned(),
            query,
            headers: Vec::new(),
        }
    }

    /// The path, e.g. `/ws`.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The raw query string without `?`, if any.
    pub fn query(&self) -> Option<&str> {
        self.query.as_deref()
    }

    /// The first value of query parameter `name` (percent-decoding is not applied).
    ///
    /// ```
    /// use im_core::connection::Request;
    /// let r = Request::new("/ws?user=u1&group=g7");
    /// assert_eq!(r.query_param("group"), Some("g7"));
    /// assert_eq!(r.query_param("token"), None);
    /// ```
    pub fn query_param(&self, name: &str) -> Option<&str> {
        self.query()?
            .split('&')
            .filter_map(|pair| pair.split_once('=').or(Some((pair, ""))))
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v)
    }

    /// The first value of header `name` (case-insensitive), if it is valid text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}
