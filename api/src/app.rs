//! Routes and handlers. Every error answers `{"error": "..."}` with a matching status.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};

use axum::extract::rejection::{JsonRejection, PathRejection};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, patch};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use serde_json::json;

const MAX_TITLE_CHARS: usize = 200;

#[derive(Clone, Serialize)]
struct Item {
    id: u64,
    title: String,
    done: bool,
}

#[derive(Deserialize)]
struct NewItem {
    title: String,
}

#[derive(Deserialize)]
struct UpdateItem {
    done: bool,
}

#[derive(Default)]
struct Store {
    last_id: u64,
    items: BTreeMap<u64, Item>,
}

#[derive(Clone)]
struct AppState {
    revision: Arc<str>,
    store: Arc<Mutex<Store>>,
}

impl AppState {
    fn store(&self) -> MutexGuard<'_, Store> {
        // A panic while holding the lock cannot leave a half-written item behind, so a
        // poisoned lock is still safe to use.
        self.store
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

pub fn router(revision: &str) -> Router {
    let state = AppState {
        revision: revision.into(),
        store: Arc::default(),
    };
    Router::new()
        .route("/health", get(health))
        .route("/api/items", get(list_items).post(create_item))
        .route("/api/items/{id}", patch(update_item).delete(delete_item))
        .fallback(|| async { ApiError(StatusCode::NOT_FOUND, "not found".into()) })
        .with_state(state)
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
        service: "api",
        version: env!("CARGO_PKG_VERSION"),
        revision: state.revision.to_string(),
    })
}

async fn list_items(State(state): State<AppState>) -> Json<Vec<Item>> {
    Json(state.store().items.values().cloned().collect())
}

async fn create_item(
    State(state): State<AppState>,
    body: Result<Json<NewItem>, JsonRejection>,
) -> Result<(StatusCode, Json<Item>), ApiError> {
    let Json(new) = body?;
    let title = new.title.trim();
    if title.is_empty() {
        return Err(ApiError::unprocessable("title must not be empty"));
    }
    if title.chars().count() > MAX_TITLE_CHARS {
        return Err(ApiError::unprocessable(format!(
            "title must be at most {MAX_TITLE_CHARS} characters"
        )));
    }
    let mut store = state.store();
    store.last_id += 1;
    let item = Item {
        id: store.last_id,
        title: title.to_owned(),
        done: false,
    };
    store.items.insert(item.id, item.clone());
    Ok((StatusCode::CREATED, Json(item)))
}

async fn update_item(
    State(state): State<AppState>,
    id: Result<Path<u64>, PathRejection>,
    body: Result<Json<UpdateItem>, JsonRejection>,
) -> Result<Json<Item>, ApiError> {
    let Path(id) = id?;
    let Json(update) = body?;
    let mut store = state.store();
    let item = store
        .items
        .get_mut(&id)
        .ok_or_else(|| ApiError::item_not_found(id))?;
    item.done = update.done;
    Ok(Json(item.clone()))
}

async fn delete_item(
    State(state): State<AppState>,
    id: Result<Path<u64>, PathRejection>,
) -> Result<StatusCode, ApiError> {
    let Path(id) = id?;
    match state.store().items.remove(&id) {
        Some(_) => Ok(StatusCode::NO_CONTENT),
        None => Err(ApiError::item_not_found(id)),
    }
}

#[derive(Debug)]
struct ApiError(StatusCode, String);

impl ApiError {
    fn unprocessable(message: impl Into<String>) -> Self {
        Self(StatusCode::UNPROCESSABLE_ENTITY, message.into())
    }

    fn item_not_found(id: u64) -> Self {
        Self(StatusCode::NOT_FOUND, format!("item {id} not found"))
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.0, Json(json!({ "error": self.1 }))).into_response()
    }
}

impl From<JsonRejection> for ApiError {
    fn from(rejection: JsonRejection) -> Self {
        Self(rejection.status(), rejection.body_text())
    }
}

impl From<PathRejection> for ApiError {
    fn from(rejection: PathRejection) -> Self {
        Self(rejection.status(), rejection.body_text())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::{to_bytes, Body};
    use axum::http::{header, Method, Request};
    use serde_json::Value;
    use tower::ServiceExt;

    /// Sends one request to `app` and returns the status and the body parsed as JSON
    /// (`Value::Null` for an empty body).
    async fn send(
        app: &Router,
        method: Method,
        uri: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let request = Request::builder().method(method).uri(uri);
        let request = match body {
            Some(body) => request
                .header(header::CONTENT_TYPE, "application/json")
                .body(Body::from(body.to_string())),
            None => request.body(Body::empty()),
        };
        let response = app.clone().oneshot(request.unwrap()).await.unwrap();
        let status = response.status();
        let bytes = to_bytes(response.into_body(), usize::MAX).await.unwrap();
        let json = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes).unwrap()
        };
        (status, json)
    }

    async fn create(app: &Router, title: &str) -> (StatusCode, Value) {
        send(
            app,
            Method::POST,
            "/api/items",
            Some(json!({ "title": title })),
        )
        .await
    }

    #[tokio::test]
    async fn health_reports_service_version_and_revision() {
        let app = router("abc123");
        let (status, body) = send(&app, Method::GET, "/health", None).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(
            body,
            json!({
                "status": "ok",
                "service": "api",
                "version": env!("CARGO_PKG_VERSION"),
                "revision": "abc123",
            })
        );
    }

    #[tokio::test]
    async fn list_starts_empty() {
        let app = router("test");
        assert_eq!(
            send(&app, Method::GET, "/api/items", None).await,
            (StatusCode::OK, json!([]))
        );
    }

    #[tokio::test]
    async fn create_then_list_in_id_order() {
        let app = router("test");
        let (status, body) = create(&app, "  buy milk ").await;
        assert_eq!(status, StatusCode::CREATED);
        assert_eq!(body, json!({ "id": 1, "title": "buy milk", "done": false }));
        create(&app, "walk the dog").await;

        let (status, body) = send(&app, Method::GET, "/api/items", None).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(
            body,
            json!([
                { "id": 1, "title": "buy milk", "done": false },
                { "id": 2, "title": "walk the dog", "done": false },
            ])
        );
    }

    #[tokio::test]
    async fn create_rejects_blank_and_too_long_titles() {
        let app = router("test");
        for title in [
            "".to_owned(),
            " \t\n".to_owned(),
            "x".repeat(MAX_TITLE_CHARS + 1),
        ] {
            let (status, body) = create(&app, &title).await;
            assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "title {title:?}");
            assert!(body["error"].is_string(), "body {body}");
        }
        let (status, _) = create(&app, &"é".repeat(MAX_TITLE_CHARS)).await;
        assert_eq!(
            status,
            StatusCode::CREATED,
            "the limit counts characters, not bytes"
        );
    }

    #[tokio::test]
    async fn create_rejects_malformed_json_with_a_json_error() {
        let app = router("test");
        let (status, body) = send(
            &app,
            Method::POST,
            "/api/items",
            Some(json!({ "name": "x" })),
        )
        .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(
            body["error"].as_str().unwrap().contains("title"),
            "body {body}"
        );
    }

    #[tokio::test]
    async fn patch_sets_done() {
        let app = router("test");
        create(&app, "buy milk").await;
        let (status, body) = send(
            &app,
            Method::PATCH,
            "/api/items/1",
            Some(json!({ "done": true })),
        )
        .await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body, json!({ "id": 1, "title": "buy milk", "done": true }));

        let (_, list) = send(&app, Method::GET, "/api/items", None).await;
        assert_eq!(list[0]["done"], json!(true));
    }

    #[tokio::test]
    async fn patch_unknown_item_is_404() {
        let app = router("test");
        let (status, body) = send(
            &app,
            Method::PATCH,
            "/api/items/7",
            Some(json!({ "done": true })),
        )
        .await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert_eq!(body, json!({ "error": "item 7 not found" }));
    }

    #[tokio::test]
    async fn delete_removes_item() {
        let app = router("test");
        create(&app, "buy milk").await;
        assert_eq!(
            send(&app, Method::DELETE, "/api/items/1", None).await,
            (StatusCode::NO_CONTENT, Value::Null)
        );
        assert_eq!(
            send(&app, Method::GET, "/api/items", None).await.1,
            json!([])
        );
        let (status, body) = send(&app, Method::DELETE, "/api/items/1", None).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert_eq!(body, json!({ "error": "item 1 not found" }));
    }

    #[tokio::test]
    async fn ids_are_not_reused_after_delete() {
        let app = router("test");
        create(&app, "a").await;
        send(&app, Method::DELETE, "/api/items/1", None).await;
        assert_eq!(create(&app, "b").await.1["id"], json!(2));
    }

    #[tokio::test]
    async fn non_numeric_id_is_a_json_400() {
        let app = router("test");
        let (status, body) = send(&app, Method::DELETE, "/api/items/abc", None).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert!(body["error"].is_string());
    }

    #[tokio::test]
    async fn unknown_route_is_a_json_404() {
        let app = router("test");
        let (status, body) = send(&app, Method::GET, "/nope", None).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert_eq!(body, json!({ "error": "not found" }));
    }
}
