//! The command line: `store-bench BACKEND CASE --name value ...`, read into a map so each
//! backend takes the options it needs.

use std::{collections::HashMap, str::FromStr, time::Duration};

use anyhow::{anyhow, bail, Context};

use crate::{cpu::ServerCpu, load::Shape};

pub struct Args {
    pub backend: String,
    pub case: String,
    options: HashMap<String, String>,
}

impl Args {
    pub fn parse(mut words: impl Iterator<Item = String>) -> anyhow::Result<Args> {
        let backend = words
            .next()
            .ok_or_else(|| anyhow!("usage: store-bench BACKEND CASE --name value ..."))?;
        let case = words.next().ok_or_else(|| anyhow!("missing CASE"))?;
        let mut options = HashMap::new();
        while let Some(name) = words.next() {
            let Some(name) = name.strip_prefix("--") else {
                bail!("expected --name, got {name}");
            };
            let value = words
                .next()
                .ok_or_else(|| anyhow!("--{name} needs a value"))?;
            options.insert(name.to_owned(), value);
        }
        Ok(Args {
            backend,
            case,
            options,
        })
    }

    pub fn text(&self, name: &str) -> anyhow::Result<&str> {
        self.options
            .get(name)
            .map(String::as_str)
            .ok_or_else(|| anyhow!("missing --{name}"))
    }

    pub fn number<T: FromStr>(&self, name: &str, default: T) -> anyhow::Result<T>
    where
        T::Err: std::error::Error + Send + Sync + 'static,
    {
        match self.options.get(name) {
            Some(value) => value.parse().with_context(|| format!("--{name} {value}")),
            None => Ok(default),
        }
    }

    /// A comma-separated list (empty when absent).
    pub fn list(&self, name: &str) -> Vec<String> {
        self.options
            .get(name)
            .map(|v| {
                v.split(',')
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default()
    }

    pub fn shape(&self) -> anyhow::Result<Shape> {
        Ok(Shape {
            concurrency: self.number("concurrency", 1usize)?.max(1),
            warmup: Duration::from_secs_f64(self.number("warmup", 1.0)?),
            measure: Duration::from_secs_f64(self.number("seconds", 8.0)?),
        })
    }

    /// The store servers' processes (`--pids 1,2`) for CPU per operation.
    pub fn server_cpu(&self) -> anyhow::Result<ServerCpu> {
        let pids = self
            .list("pids")
            .iter()
            .map(|p| p.parse::<u32>().with_context(|| format!("--pids {p}")))
            .collect::<anyhow::Result<_>>()?;
        Ok(ServerCpu::new(pids, self.number("clk-tck", 100u64)?))
    }
}
