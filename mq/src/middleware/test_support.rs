//! Test helpers: capture the fields `tracing` spans are given.

use std::fmt;
use std::sync::{Arc, Mutex};

use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::subscriber::DefaultGuard;
use tracing::Subscriber;
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::Layer;

/// Collects `(span name, field, value)` for every field set on a span.
#[derive(Clone, Default)]
pub(crate) struct SpanCapture {
    fields: Arc<Mutex<Vec<(String, String, String)>>>,
}

impl SpanCapture {
    /// Captures spans of the current thread until the guard is dropped.
    pub(crate) fn install(&self) -> DefaultGuard {
        let subscriber = tracing_subscriber::registry().with(self.clone());
        tracing::subscriber::set_default(subscriber)
    }

    /// The values given to `field`, in order.
    pub(crate) fn values(&self, field: &str) -> Vec<String> {
        self.fields
            .lock()
            .map(|f| {
                f.iter()
                    .filter(|(_, name, _)| name == field)
                    .map(|(_, _, v)| v.clone())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The last value given to `field` of a span named `span`.
    pub(crate) fn field_of(&self, span: &str, field: &str) -> Option<String> {
        self.fields.lock().ok().and_then(|f| {
            f.iter()
                .rev()
                .find(|(s, name, _)| s == span && name == field)
                .map(|(_, _, v)| v.clone())
        })
    }
}

struct Visitor<'a> {
    span: String,
    out: &'a mut Vec<(String, String, String)>,
}

impl Visit for Visitor<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.out
            .push((self.span.clone(), field.name().to_owned(), value.to_owned()));
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.out.push((
            self.span.clone(),
            field.name().to_owned(),
            format!("{value:?}"),
        ));
    }
}

impl<S> Layer<S> for SpanCapture
where
    S: Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
{
    fn on_new_span(&self, attrs: &Attributes<'_>, _id: &Id, _ctx: Context<'_, S>) {
        if let Ok(mut out) = self.fields.lock() {
            attrs.record(&mut Visitor {
                span: attrs.metadata().name().to_owned(),
                out: &mut out,
            });
        }
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        let span = ctx
            .span(id)
            .map(|s| s.name().to_owned())
            .unwrap_or_default();
        if let Ok(mut out) = self.fields.lock() {
            values.record(&mut Visitor {
                span,
                out: &mut out,
            });
        }
    }
}
