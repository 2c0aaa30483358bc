//! The embedded DynamoDB engine (dynoxide) served over HTTP on a loopback port, so every
//! function talks to it through the real `aws-sdk-dynamodb` client.

use std::net::SocketAddr;
use std::path::Path;

pub struct Engine {
    addr: SocketAddr,
    pub database: dynoxide::Database,
    task: tokio::task::JoinHandle<()>,
}

impl Engine {
    /// With a file the data survives restarts; without, it lives in memory.
    pub async fn start(file: Option<&Path>) -> anyhow::Result<Self> {
        let database = match file {
            Some(path) => dynoxide::Database::new(&path.to_string_lossy())?,
            None => dynoxide::Database::memory()?,
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let task = tokio::spawn(dynoxide::server::serve_on(listener, database.clone()));
        Ok(Self {
            addr,
            database,
            task,
        })
    }

    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        self.task.abort();
    }
}
