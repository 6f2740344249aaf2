//! [`InstrumentLayer`]: a `tracing` span and `metrics` for every message handled.

use std::time::Instant;

use async_trait::async_trait;
use tower::Layer;
use tracing::Instrument as _;

use crate::handler::{Handler, HandlerContext, HandlerError};
use crate::message::{keys, Message};

/// Runs the inner handler in a `tracing` span and records metrics through the
/// [`metrics`](https://docs.rs/metrics) facade (the application installs an exporter,
/// for example Prometheus).
///
/// The span is named `mq.handle` and has the fields `handler`, `topic`, `group`,
/// `message_id`, `correlation_id` (from the message's metadata, or recorded later by the
/// [`CorrelationIdLayer`](super::CorrelationIdLayer)) and `attempt` (the delivery
/// attempt).
///
/// Metrics:
///
/// | name | kind | labels |
/// |---|---|---|
/// | `mq_handler_messages_total` | counter | `handler`, `outcome` = `ok` or `error` |
/// | `mq_handler_duration_seconds` | histogram | `handler` |
///
/// Add it first (outermost) to measure everything the other middleware do, or after
/// the retry layer to measure each attempt.
#[derive(Clone, Copy, Debug, Default)]
pub struct InstrumentLayer {
    _priv: (),
}

impl InstrumentLayer {
    /// A layer instrumenting handlers.
    pub fn new() -> Self {
        Self::default()
    }
}

impl<S: Handler> Layer<S> for InstrumentLayer {
    type Service = Instrumented<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Instrumented { inner }
    }
}

/// The handler made by [`InstrumentLayer`].
#[derive(Clone, Debug)]
pub struct Instrumented<S> {
    inner: S,
}

#[async_trait]
impl<S: Handler> Handler for Instrumented<S> {
    async fn handle(
        &self,
        msg: Message,
        ctx: &HandlerContext,
    ) -> Result<Vec<Message>, HandlerError> {
        let span = tracing::info_span!(
            "mq.handle",
            handler = ctx.handler(),
            topic = ctx.topic(),
            group = ctx.group(),
            message_id = msg.id(),
            correlation_id = tracing::field::Empty,
            attempt = ctx.delivery_attempt(),
        );
        if let Some(correlation_id) = msg.metadata().get(keys::CORRELATION_ID) {
            span.record("correlation_id", correlation_id);
        }
        let started = Instant::now();
        let outcome = self.inner.handle(msg, ctx).instrument(span.clone()).await;
        let elapsed = started.elapsed();
        let result = if outcome.is_ok() { "ok" } else { "error" };
        if let Err(err) = &outcome {
            span.in_scope(|| tracing::debug!(error = %err, "handler failed"));
        }
        metrics::counter!(
            "mq_handler_messages_total",
            "handler" => ctx.handler().to_owned(),
            "outcome" => result,
        )
        .increment(1);
        metrics::histogram!(
            "mq_handler_duration_seconds",
            "handler" => ctx.handler().to_owned(),
        )
        .record(elapsed.as_secs_f64());
        outcome
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::sync::{Arc, Mutex};

    use metrics::{
        Counter, CounterFn, Gauge, Histogram, HistogramFn, Key, KeyName, Metadata, Recorder,
        SharedString, Unit,
    };

    use super::*;
    use crate::handler::handler_fn;
    use crate::middleware::test_support::SpanCapture;
    use crate::middleware::CorrelationIdLayer;

    type Values = Arc<Mutex<BTreeMap<String, Vec<f64>>>>;

    /// Records every counter increment and histogram value by "name{label=value,...}".
    #[derive(Default)]
    struct TestRecorder {
        values: Values,
    }

    struct Handle {
        key: String,
        values: Values,
    }

    impl Handle {
        fn push(&self, v: f64) {
            if let Ok(mut values) = self.values.lock() {
                values.entry(self.key.clone()).or_default().push(v);
            }
        }
    }

    impl CounterFn for Handle {
        fn increment(&self, value: u64) {
            self.push(value as f64);
        }
        fn absolute(&self, value: u64) {
            self.push(value as f64);
        }
    }

    impl HistogramFn for Handle {
        fn record(&self, value: f64) {
            self.push(value);
        }
    }

    impl TestRecorder {
        fn handle(&self, key: &Key) -> Arc<Handle> {
            let labels: Vec<String> = key
                .labels()
                .map(|l| format!("{}={}", l.key(), l.value()))
                .collect();
            Arc::new(Handle {
                key: format!("{}{{{}}}", key.name(), labels.join(",")),
                values: Arc::clone(&self.values),
            })
        }

        fn get(&self, key: &str) -> Vec<f64> {
            self.values
                .lock()
                .map(|v| v.get(key).cloned().unwrap_or_default())
                .unwrap_or_default()
        }
    }

    impl Recorder for TestRecorder {
        fn describe_counter(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
        fn describe_gauge(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
        fn describe_histogram(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
        fn register_counter(&self, key: &Key, _: &Metadata<'_>) -> Counter {
            Counter::from_arc(self.handle(key))
        }
        fn register_gauge(&self, _: &Key, _: &Metadata<'_>) -> Gauge {
            Gauge::noop()
        }
        fn register_histogram(&self, key: &Key, _: &Metadata<'_>) -> Histogram {
            Histogram::from_arc(self.handle(key))
        }
    }

    fn fails_on_empty() -> impl Handler {
        handler_fn(|m: Message, _ctx: HandlerContext| async move {
            if m.payload().is_empty() {
                Err(HandlerError::transient("empty"))
            } else {
                Ok(Vec::new())
            }
        })
    }

    #[tokio::test]
    async fn counts_outcomes_and_times_them() {
        let recorder = TestRecorder::default();
        let _guard = metrics::set_default_local_recorder(&recorder);
        let handler = InstrumentLayer::new().layer(fails_on_empty());
        let ctx = HandlerContext::new("billing", "orders", "g");
        handler.handle(Message::new("a"), &ctx).await.ok();
        handler.handle(Message::new("b"), &ctx).await.ok();
        handler.handle(Message::new(""), &ctx).await.ok();
        assert_eq!(
            recorder.get("mq_handler_messages_total{handler=billing,outcome=ok}"),
            [1.0, 1.0]
        );
        assert_eq!(
            recorder.get("mq_handler_messages_total{handler=billing,outcome=error}"),
            [1.0]
        );
        let durations = recorder.get("mq_handler_duration_seconds{handler=billing}");
        assert_eq!(durations.len(), 3);
        assert!(durations.iter().all(|d| *d >= 0.0));
    }

    #[tokio::test]
    async fn span_has_the_delivery_fields() {
        let capture = SpanCapture::default();
        let _guard = capture.install();
        let handler =
            InstrumentLayer::new().layer(CorrelationIdLayer::new().layer(fails_on_empty()));
        let ctx = HandlerContext::new("billing", "orders", "g").with_attempt(3);
        let msg = Message::new("a");
        handler.handle(msg.clone(), &ctx).await.ok();
        let field = |f| capture.field_of("mq.handle", f);
        assert_eq!(field("handler").as_deref(), Some("billing"));
        assert_eq!(field("topic").as_deref(), Some("orders"));
        assert_eq!(field("group").as_deref(), Some("g"));
        assert_eq!(field("message_id").as_deref(), Some(msg.id()));
        assert_eq!(field("attempt").as_deref(), Some("3"));
        // Recorded by the correlation layer inside.
        assert_eq!(field("correlation_id").as_deref(), Some(msg.id()));
    }
}
