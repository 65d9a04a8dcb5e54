//! What every handler shares: the configuration, the store, the scheduler, the GGUF metadata
//! cache, downloads in flight and the request guard, and resolving a request's model name.

use std::sync::Arc;

use super::error::ApiError;
use super::guard;
use super::meta::{MetaCache, ModelMeta};
use crate::envconfig::Config;
use crate::sched::{Loader, SchedConfig, Scheduler};
use crate::store::Store;
use crate::store::model::Model;
use crate::store::name::Name;

/// The version `/api/version` reports and `serve` logs.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// Everything a handler may use.
pub struct AppState {
    pub config: Config,
    pub store: Store,
    pub sched: Arc<Scheduler>,
    pub meta: MetaCache,
    /// Blob downloads in flight, shared by the pulls that need them.
    pub downloads: Arc<crate::registry::Downloads>,
    /// CORS, Host check, body size, API keys: in front of every route.
    pub guard: Arc<guard::Guard>,
}

pub type State = Arc<AppState>;

impl AppState {
    /// A state whose guard comes from `config`, open when it does not parse (`serve` checks it
    /// first and refuses to start).
    pub fn new(config: Config, store: Store, loader: Arc<dyn Loader>) -> AppState {
        let guard = guard::Guard::from_config(&config).unwrap_or_else(|_| guard::Guard::open());
        AppState::with_guard(config, store, loader, guard)
    }

    pub fn with_guard(
        config: Config,
        store: Store,
        loader: Arc<dyn Loader>,
        guard: guard::Guard,
    ) -> AppState {
        let sched = Scheduler::new(
            SchedConfig {
                default_keep_alive: config.keep_alive,
                max_loaded: config.max_loaded_models,
                max_queue: config.max_queue,
            },
            loader,
        );
        AppState {
            config,
            store,
            sched,
            meta: MetaCache::default(),
            downloads: Arc::default(),
            guard: Arc::new(guard),
        }
    }

    /// Resolves a request's model name to a readable model: 400 for an invalid name, 404 when
    /// it is not in the store.
    pub fn model(&self, name: &str) -> Result<Model, ApiError> {
        let parsed = Name::parse(name)?;
        let stored = self
            .store
            .read(&parsed)?
            .ok_or_else(|| ApiError::model_not_found(name))?;
        Ok(Model::load(&self.store, stored)?)
    }

    /// The GGUF facts of a model's weights.
    pub fn model_meta(&self, model: &Model) -> Result<Arc<ModelMeta>, ApiError> {
        match (&model.model_digest, &model.model_path) {
            (Some(_), Some(p)) if !p.is_file() => Err(ApiError::not_found(format!(
                "model \"{}\" not found, try pulling it first",
                model.short_name()
            ))),
            (Some(d), Some(p)) => self.meta.get(d, p).map_err(|e| {
                ApiError::internal(format!(
                    "this model may be incompatible with your version of rollama: {e}"
                ))
            }),
            _ => Ok(Arc::new(ModelMeta::default())),
        }
    }
}
