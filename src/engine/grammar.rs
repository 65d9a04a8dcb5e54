//! Grammar samplers built off the decode loop, on a thread of the lowest priority. Turning a
//! JSON schema into GBNF (llama.cpp's converter) and a GBNF grammar into a llama.cpp grammar
//! sampler (`llama_grammar_init_impl`) can take seconds for a large `format` schema; on the
//! engine thread that would stall every sequence of the model. Each engine has one builder
//! thread (scoped to the engine, so it never outlives the model it reads): requests with a
//! grammar wait beside the queue until theirs is built, a request whose client has gone is
//! skipped before its build starts and its result is dropped if it left during it, and a
//! grammar llama.cpp refuses comes back as an error for the request (the server's 400).

use std::sync::mpsc as std_mpsc;
use std::thread::Scope;
use std::time::Duration;

use llama_cpp_2::model::LlamaModel;
use llama_cpp_2::sampling::LlamaSampler;
use tokio::sync::mpsc;

use super::{Event, Grammar};

/// A built grammar sampler, moved from the builder thread to the engine thread.
pub(super) struct Built(pub LlamaSampler);

// SAFETY: a grammar sampler owns its grammar state and only reads the vocabulary (which
// llama-cpp-2 already shares across threads, `LlamaVocab: Sync`). It is created on the builder
// thread and, once sent, used by the engine thread alone; nothing else keeps a pointer to it.
#[allow(unsafe_code)]
unsafe impl Send for Built {}

/// What the builder thread sends back: the request it belongs to and its sampler or error.
pub(super) struct Done {
    pub id: u64,
    pub result: Result<Built, String>,
}

struct Job {
    id: u64,
    grammar: Grammar,
    /// The request's event channel, to skip the build when its client has gone.
    client: mpsc::UnboundedSender<Event>,
}

/// The engine's side of its builder thread.
pub(super) struct Builder {
    jobs: std_mpsc::Sender<Job>,
    done: std_mpsc::Receiver<Done>,
    next: u64,
}

impl Builder {
    /// Starts the builder thread inside `scope` (the engine's), reading `model`'s vocabulary.
    pub fn start<'s, 'm: 's>(scope: &'s Scope<'s, 'm>, model: &'m LlamaModel) -> Builder {
        let (jobs, rx) = std_mpsc::channel::<Job>();
        let (out, done) = std_mpsc::channel();
        let spawned = std::thread::Builder::new()
            .name("grammar".into())
            .spawn_scoped(scope, move || {
                // Decoding comes first: on a busy CPU (llama.cpp's threads spin) a build at the
                // same priority would slow every running sequence.
                if let Err(e) = crate::os::lower_this_threads_priority() {
                    tracing::debug!("could not lower the grammar thread's priority: {e}");
                }
                for job in rx {
                    if job.client.is_closed() {
                        continue;
                    }
                    let started = std::time::Instant::now();
                    let gbnf = match job.grammar {
                        Grammar::Gbnf(g) => Ok(g),
                        Grammar::JsonSchema(schema) => {
                            llama_cpp_2::json_schema_to_grammar(&schema).map_err(|e| e.to_string())
                        }
                    };
                    let result = gbnf.and_then(|g| {
                        LlamaSampler::grammar(model, &g, "root")
                            .map(Built)
                            .map_err(|e| e.to_string())
                    });
                    tracing::debug!(
                        ms = started.elapsed().as_millis() as u64,
                        ok = result.is_ok(),
                        "grammar built"
                    );
                    if out.send(Done { id: job.id, result }).is_err() {
                        return;
                    }
                }
            });
        if let Err(e) = spawned {
            // Without a thread every build fails (the receiver is gone), which the engine
            // reports per request.
            tracing::error!("could not start the grammar thread: {e}");
        }
        Builder {
            jobs,
            done,
            next: 0,
        }
    }

    /// Queues a build; returns the id its [`Done`] will carry.
    pub fn submit(&mut self, grammar: Grammar, client: mpsc::UnboundedSender<Event>) -> u64 {
        self.next += 1;
        let id = self.next;
        let _ = self.jobs.send(Job {
            id,
            grammar,
            client,
        });
        id
    }

    /// A finished build, if any; `Err` when the builder thread is gone.
    pub fn try_take(&self) -> Result<Option<Done>, ()> {
        match self.done.try_recv() {
            Ok(d) => Ok(Some(d)),
            Err(std_mpsc::TryRecvError::Empty) => Ok(None),
            Err(std_mpsc::TryRecvError::Disconnected) => Err(()),
        }
    }

    /// How long an idle engine waits for a command before it looks for finished builds.
    pub const POLL: Duration = Duration::from_millis(5);
}
