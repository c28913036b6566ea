//! Routes: the page and its assets (embedded in the binary, so the image holds nothing
//! else), /health, and a proxy that forwards /api/* and /api-health to the api service.

use std::error::Error;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, StatusCode, Uri};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{any, get};
use axum::{Json, Router};
use hyper_util::client::legacy::{connect::HttpConnector, Client};
use hyper_util::rt::TokioExecutor;
use serde::Serialize;
use serde_json::json;

const INDEX_HTML: &str = include_str!("../static/index.html");
const APP_JS: &str = include_str!("../static/app.js");
const STYLE_CSS: &str = include_str!("../static/style.css");

/// How long the api may take to start answering a proxied request.
const UPSTREAM_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Clone)]
struct AppState {
    /// Base URL of the api without a trailing slash, e.g. `http://api:8080`.
    api_url: Arc<str>,
    client: Client<HttpConnector, Body>,
    revision: Arc<str>,
}

pub fn router(api_url: &str, revision: &str) -> Result<Router, String> {
    let uri: Uri = api_url
        .parse()
        .map_err(|err| format!("invalid API_URL {api_url:?}: {err}"))?;
    if uri.scheme_str() != Some("http") || uri.host().is_none() || uri.query().is_some() {
        return Err(format!(
            "API_URL must look like http://host:port, got {api_url:?}"
        ));
    }
    let state = AppState {
        api_url: api_url.trim_end_matches('/').into(),
        client: Client::builder(TokioExecutor::new()).build_http(),
        revision: revision.into(),
    };
    Ok(Router::new()
        .route("/", get(|| async { Html(INDEX_HTML) }))
        .route(
            "/static/app.js",
            get(|| async { asset("text/javascript; charset=utf-8", APP_JS) }),
        )
        .route(
            "/static/style.css",
            get(|| async { asset("text/css; charset=utf-8", STYLE_CSS) }),
        )
        .route("/health", get(health))
        .route("/api-health", get(api_health))
        .route("/api/{*path}", any(proxy_api))
        .fallback(|| async { (StatusCode::NOT_FOUND, "not found") })
        .with_state(state))
}

fn asset(content_type: &'static str, body: &'static str) -> impl IntoResponse {
    ([(header::CONTENT_TYPE, content_type)], body)
}

/// Body of `GET /health`; fields serialize in this order.
#[derive(Serialize)]
struct Health {
    status: &'static str,
    service: &'static str,
    version: &'static str,
    revision: String,
}

async fn health(State(state): State<AppState>) -> Json<Health> {
    Json(Health {
        status: "ok",
        service: "web",
        version: env!("CARGO_PKG_VERSION"),
        revision: state.revision.to_string(),
    })
}

/// `GET /api-health` → `GET $API_URL/health`, so the page can show the api's status.
async fn api_health(State(state): State<AppState>) -> Response {
    forward(&state, "/health", Request::new(Body::empty())).await
}

/// `/api/*` → `$API_URL/api/*`, keeping method, path, query, body and content type.
async fn proxy_api(State(state): State<AppState>, request: Request) -> Response {
    let path_and_query = request
        .uri()
        .path_and_query()
        .map_or("/", |pq| pq.as_str())
        .to_owned();
    forward(&state, &path_and_query, request).await
}

async fn forward(state: &AppState, path_and_query: &str, request: Request) -> Response {
    match send_upstream(state, path_and_query, request).await {
        Ok(response) => response,
        Err(err) => {
            eprintln!("web: {path_and_query} → api failed: {err:?}");
            let body = Json(json!({ "error": format!("api unreachable: {err}") }));
            (StatusCode::BAD_GATEWAY, body).into_response()
        }
    }
}

async fn send_upstream(
    state: &AppState,
    path_and_query: &str,
    request: Request,
) -> Result<Response, Box<dyn Error + Send + Sync>> {
    let (parts, body) = request.into_parts();
    let mut upstream = Request::builder()
        .method(parts.method)
        .uri(format!("{}{path_and_query}", state.api_url));
    if let Some(content_type) = parts.headers.get(header::CONTENT_TYPE) {
        upstream = upstream.header(header::CONTENT_TYPE, content_type);
    }
    let pending = state.client.request(upstream.body(body)?);
    let (parts, body) = tokio::time::timeout(UPSTREAM_TIMEOUT, pending)
        .await??
        .into_parts();

    let mut response = Response::new(Body::new(body));
    *response.status_mut() = parts.status;
    if let Some(content_type) = parts.headers.get(header::CONTENT_TYPE) {
        response
            .headers_mut()
            .insert(header::CONTENT_TYPE, content_type.clone());
    }
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::to_bytes;
    use axum::http::Method;
    use serde_json::Value;
    use tokio::net::TcpListener;
    use tower::ServiceExt;

    async fn get_path(app: &Router, uri: &str) -> Response {
        let request = Request::get(uri).body(Body::empty()).unwrap();
        app.clone().oneshot(request).await.unwrap()
    }

    async fn body_text(response: Response) -> String {
        let bytes = to_bytes(response.into_body(), usize::MAX).await.unwrap();
        String::from_utf8(bytes.to_vec()).unwrap()
    }

    fn content_type(response: &Response) -> &str {
        response.headers()[header::CONTENT_TYPE].to_str().unwrap()
    }

    /// A stand-in api on 127.0.0.1 that echoes what it received; returns its base URL.
    async fn spawn_echo_api() -> String {
        async fn echo(request: Request) -> (StatusCode, Json<Value>) {
            let (parts, body) = request.into_parts();
            let body = to_bytes(body, usize::MAX).await.unwrap();
            let echoed = json!({
                "method": parts.method.as_str(),
                "uri": parts.uri.to_string(),
                "content_type": parts.headers.get(header::CONTENT_TYPE).map(|v| v.to_str().unwrap()),
                "body": String::from_utf8(body.to_vec()).unwrap(),
            });
            (StatusCode::CREATED, Json(echoed))
        }
        let api = Router::new()
            .route(
                "/health",
                get(|| async { Json(json!({ "status": "ok", "service": "api" })) }),
            )
            .route("/api/{*path}", any(echo));
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, api).await.unwrap() });
        url
    }

    /// A URL where nothing listens.
    async fn closed_url() -> String {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        format!("http://{}", listener.local_addr().unwrap())
    }

    #[tokio::test]
    async fn serves_page_and_assets_with_content_types() {
        let app = router("http://api:8080", "test").unwrap();
        for (path, expected_type, marker) in [
            ("/", "text/html; charset=utf-8", r#"id="new-item""#),
            (
                "/static/app.js",
                "text/javascript; charset=utf-8",
                "/api/items",
            ),
            ("/static/style.css", "text/css; charset=utf-8", "#items"),
        ] {
            let response = get_path(&app, path).await;
            assert_eq!(response.status(), StatusCode::OK, "{path}");
            assert_eq!(content_type(&response), expected_type, "{path}");
            assert!(
                body_text(response).await.contains(marker),
                "{path} lacks {marker}"
            );
        }
        assert_eq!(
            get_path(&app, "/static/nope.js").await.status(),
            StatusCode::NOT_FOUND
        );
    }

    #[tokio::test]
    async fn health_reports_service_version_and_revision() {
        let app = router("http://api:8080", "abc123").unwrap();
        let response = get_path(&app, "/health").await;
        assert_eq!(response.status(), StatusCode::OK);
        let body: Value = serde_json::from_str(&body_text(response).await).unwrap();
        assert_eq!(
            body,
            json!({
                "status": "ok",
                "service": "web",
                "version": env!("CARGO_PKG_VERSION"),
                "revision": "abc123",
            })
        );
    }

    #[tokio::test]
    async fn proxies_method_path_query_body_and_content_type() {
        let app = router(&spawn_echo_api().await, "test").unwrap();
        let request = Request::builder()
            .method(Method::PATCH)
            .uri("/api/items/3?verbose=1")
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(r#"{"done":true}"#))
            .unwrap();
        let response = app.oneshot(request).await.unwrap();
        assert_eq!(response.status(), StatusCode::CREATED);
        assert_eq!(content_type(&response), "application/json");
        let echoed: Value = serde_json::from_str(&body_text(response).await).unwrap();
        assert_eq!(
            echoed,
            json!({
                "method": "PATCH",
                "uri": "/api/items/3?verbose=1",
                "content_type": "application/json",
                "body": r#"{"done":true}"#,
            })
        );
    }

    #[tokio::test]
    async fn api_health_proxies_to_api_health() {
        let api_url = spawn_echo_api().await;
        let app = router(&format!("{api_url}/"), "test").unwrap();
        let response = get_path(&app, "/api-health").await;
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(
            body_text(response).await,
            r#"{"service":"api","status":"ok"}"#
        );
    }

    #[tokio::test]
    async fn upstream_down_is_a_json_502() {
        let app = router(&closed_url().await, "test").unwrap();
        for path in ["/api/items", "/api-health"] {
            let response = get_path(&app, path).await;
            assert_eq!(response.status(), StatusCode::BAD_GATEWAY, "{path}");
            assert_eq!(content_type(&response), "application/json");
            let body: Value = serde_json::from_str(&body_text(response).await).unwrap();
            assert!(
                body["error"]
                    .as_str()
                    .unwrap()
                    .starts_with("api unreachable"),
                "{body}"
            );
        }
    }

    #[test]
    fn rejects_unusable_api_urls() {
        for url in ["", "api:8080", "https://api:8080", "http://api:8080/?x=1"] {
            assert!(router(url, "test").is_err(), "{url:?}");
        }
    }
}
