//! A hub on 127.0.0.1 (SQLite or a scratch PostgreSQL database) and a real HTTP client.

#![allow(dead_code)]

use std::io::Read as _;
use std::time::Duration;

use omega_hub::tenancy::{NewTenant, Plan};
use omega_hub::{Hub, HubOptions, RunningHub};
use omega_testkit::pg::PgDatabase;
use serde_json::{Value, json};

#[derive(Clone, Copy, Debug)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Runs `body` once per backend; PostgreSQL is skipped only with `OMEGA_SKIP_POSTGRES=1`.
#[macro_export]
macro_rules! on_both {
    ($($name:ident),* $(,)?) => {
        $(
            mod $name {
                #[test]
                fn sqlite() {
                    super::$name($crate::common::Backend::Sqlite);
                }
                #[test]
                fn postgres() {
                    super::$name($crate::common::Backend::Postgres);
                }
            }
        )*
    };
}

pub struct TestHub {
    pub runtime: tokio::runtime::Runtime,
    pub hub: Hub,
    running: Option<RunningHub>,
    pub url: String,
    pub options: HubOptions,
    pg: Option<PgDatabase>,
    pub dir: tempfile::TempDir,
}

/// A webhook sample of omega-channels' fixtures, by path below `tests/fixtures`.
pub fn fixture(path: &str) -> String {
    let root =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../omega-channels/tests/fixtures");
    std::fs::read_to_string(root.join(path)).unwrap()
}

pub const OWNER_PASSWORD: &str = "correct horse battery staple";

impl TestHub {
    /// A hub with `config` as hub.toml. `None` when PostgreSQL is skipped.
    pub fn start(backend: Backend, config: &str) -> Option<TestHub> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let (db_url, pg) = match backend {
            Backend::Sqlite => (
                format!("sqlite://{}", dir.path().join("hub.db").display()),
                None,
            ),
            Backend::Postgres => {
                let pg = runtime.block_on(PgDatabase::create())?;
                (pg.url.clone(), Some(pg))
            }
        };
        std::fs::write(dir.path().join("hub.toml"), config).unwrap();
        let options = HubOptions::new(dir.path(), &db_url);
        let (hub, running) = runtime.block_on(async {
            let hub = Hub::open(options.clone()).await.unwrap();
            let running = hub.serve("127.0.0.1:0".parse().unwrap()).await.unwrap();
            (hub, running)
        });
        let url = format!("http://{}", running.addr());
        Some(TestHub {
            runtime,
            hub,
            running: Some(running),
            url,
            options,
            pg,
            dir,
        })
    }

    /// Creates a company tenant `slug` with owner `owner@<slug>.test`.
    pub fn tenant(&self, slug: &str, plan: Plan) -> (String, String) {
        let email = format!("owner@{slug}.test");
        let (tenant, owner) = self
            .runtime
            .block_on(self.hub.create_tenant(NewTenant {
                slug,
                name: slug,
                kind: "company",
                plan,
                owner_email: &email,
                owner_name: "Owner",
                owner_password: OWNER_PASSWORD,
            }))
            .unwrap();
        (tenant.id, owner.id)
    }

    pub fn call(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<&Value>,
    ) -> Answer {
        self.raw(
            method,
            path,
            token,
            body.map(|body| body.to_string()).as_deref(),
            &[],
        )
    }

    pub fn raw(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<&str>,
        headers: &[(&str, &str)],
    ) -> Answer {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(60)))
            .build()
            .into();
        let url = format!("{}{path}", self.url);
        let mut request = ureq::http::Request::builder().method(method).uri(&url);
        if let Some(token) = token {
            request = request.header("Authorization", format!("Bearer {token}"));
        }
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let response = match body {
            Some(body) => {
                let request = if headers
                    .iter()
                    .any(|(name, _)| name.eq_ignore_ascii_case("content-type"))
                {
                    request
                } else {
                    request.header("Content-Type", "application/json")
                };
                agent.run(request.body(body.to_owned()).unwrap())
            }
            None => agent.run(request.body(()).unwrap()),
        };
        let mut response = response.unwrap();
        let status = response.status().as_u16();
        let response_headers: Vec<(String, String)> = response
            .headers()
            .iter()
            .map(|(name, value)| (name.to_string(), value.to_str().unwrap_or("").to_owned()))
            .collect();
        let mut text = String::new();
        response
            .body_mut()
            .as_reader()
            .read_to_string(&mut text)
            .unwrap();
        Answer {
            status,
            body: serde_json::from_str(&text).unwrap_or(Value::String(text)),
            headers: response_headers,
        }
    }

    /// Logs in; returns the token response.
    pub fn login(&self, tenant: &str, email: &str, password: &str) -> Value {
        let answer = self.call(
            "POST",
            "/api/v1/auth/login",
            None,
            Some(&json!({ "tenant": tenant, "email": email, "password": password })),
        );
        assert_eq!(answer.status, 200, "{answer:?}");
        answer.body
    }

    /// Logs in as the owner of `slug`; returns the access token.
    pub fn owner_token(&self, slug: &str) -> String {
        self.login(slug, &format!("owner@{slug}.test"), OWNER_PASSWORD)["access_token"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    /// Connects a channel (201 expected); the answer holds `webhook_path` and `webhook_token`.
    pub fn channel(&self, token: &str, body: Value) -> Value {
        let created = self.call("POST", "/api/v1/channels", Some(token), Some(&body));
        assert_eq!(created.status, 201, "{created:?}");
        created.body
    }

    /// The conversations of the token's tenant.
    pub fn conversations(&self, token: &str) -> Vec<Value> {
        self.list("/api/v1/conversations", token)
    }

    /// The messages of one conversation.
    pub fn messages(&self, token: &str, conversation: &str) -> Vec<Value> {
        self.list(
            &format!("/api/v1/conversations/{conversation}/messages"),
            token,
        )
    }

    /// A GET answering a JSON array (200 expected).
    pub fn list(&self, path: &str, token: &str) -> Vec<Value> {
        let answer = self.call("GET", path, Some(token), None);
        assert_eq!(answer.status, 200, "{answer:?}");
        answer.body.as_array().unwrap().clone()
    }

    /// Normalizes every stored webhook body, waiting for ones the hub's own worker has
    /// claimed meanwhile.
    pub fn drain(&self) {
        self.runtime.block_on(async {
            let deadline = std::time::Instant::now() + Duration::from_secs(30);
            loop {
                self.hub.process_inbound().await.unwrap();
                let db = self.hub.db();
                let left = db.inbound_count("pending").await.unwrap()
                    + db.inbound_count("processing").await.unwrap();
                if left == 0 {
                    return;
                }
                assert!(
                    std::time::Instant::now() < deadline,
                    "the inbox queue does not drain"
                );
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        });
    }

    /// Audit entries (all tenants) as JSON, read straight from the database.
    pub fn audit_actions(&self) -> Vec<Value> {
        self.runtime.block_on(async {
            let size = self.hub.audit().size();
            let mut out = Vec::new();
            for idx in 0..size {
                if let Some(row) = self.hub.db().audit_entry(idx as i64).await.unwrap() {
                    out.push(serde_json::from_str(&row.entry).unwrap());
                }
            }
            out
        })
    }
}

impl Drop for TestHub {
    fn drop(&mut self) {
        if let Some(running) = self.running.take() {
            self.runtime.block_on(running.shutdown());
        }
        self.runtime.block_on(self.hub.db().close());
        if let Some(pg) = self.pg.take() {
            self.runtime.block_on(pg.drop());
        }
    }
}

#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub body: Value,
    pub headers: Vec<(String, String)>,
}

impl Answer {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }

    /// Asserts status and error code.
    pub fn refused(&self, status: u16, code: &str) {
        assert_eq!(self.status, status, "{self:?}");
        assert_eq!(self.body["error"]["code"], code, "{self:?}");
        assert!(
            self.body["error"]["message"]
                .as_str()
                .is_some_and(|m| !m.is_empty()),
            "{self:?}"
        );
    }
}
