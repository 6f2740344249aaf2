//! [`CorrelationIdLayer`]: carries a correlation id from a message to every message its
//! handler produces.

use async_trait::async_trait;
use tower::Layer;

use crate::handler::{Handler, HandlerContext, HandlerError};
use crate::message::{keys, Message};

/// Makes sure every message handled and produced carries a correlation id in its
/// [`keys::CORRELATION_ID`] metadata.
///
/// An incoming message without one gets its own id as correlation id (the inner handler
/// sees it); every produced message without one gets the incoming message's. The id is
/// also recorded as the `correlation_id` field of the current `tracing` span, when that
/// span declares it (the [`InstrumentLayer`](super::InstrumentLayer)'s does: add the
/// instrument layer first, so it is outside).
#[derive(Clone, Copy, Debug, Default)]
pub struct CorrelationIdLayer {
    _priv: (),
}

impl CorrelationIdLayer {
    /// A layer propagating correlation ids.
    pub fn new() -> Self {
        Self::default()
    }
}

impl<S: Handler> Layer<S> for CorrelationIdLayer {
    type Service = CorrelationId<S>;

    fn layer(&self, inner: S) -> Self::Service {
        CorrelationId { inner }
    }
}

/// The handler made by [`CorrelationIdLayer`].
#[derive(Clone, Debug)]
pub struct CorrelationId<S> {
    inner: S,
}

#[async_trait]
impl<S: Handler> Handler for CorrelationId<S> {
    async fn handle(
        &self,
        mut msg: Message,
        ctx: &HandlerContext,
    ) -> Result<Vec<Message>, HandlerError> {
        let correlation_id = match msg.metadata().get(keys::CORRELATION_ID) {
            Some(id) => id.to_owned(),
            None => {
                let id = msg.id().to_owned();
                msg.metadata_mut().insert(keys::CORRELATION_ID, id.clone());
                id
            }
        };
        tracing::Span::current().record("correlation_id", correlation_id.as_str());
        let mut produced = self.inner.handle(msg, ctx).await?;
        for out in &mut produced {
            if out.metadata().get(keys::CORRELATION_ID).is_none() {
                out.metadata_mut()
                    .insert(keys::CORRELATION_ID, correlation_id.clone());
            }
        }
        Ok(produced)
    }
}

#[cfg(test)]
mod tests {
    use tracing::Instrument;

    use super::*;
    use crate::handler::handler_fn;
    use crate::middleware::test_support::SpanCapture;

    fn ctx() -> HandlerContext {
        HandlerContext::new("h", "t", "g")
    }

    fn echo_twice() -> impl Handler {
        handler_fn(|m: Message, _ctx: HandlerContext| async move {
            let seen = m
                .metadata()
                .get(keys::CORRELATION_ID)
                .unwrap_or("")
                .to_owned();
            Ok(vec![
                Message::new(seen),
                Message::new("own").with_metadata(keys::CORRELATION_ID, "kept"),
            ])
        })
    }

    #[tokio::test]
    async fn message_id_becomes_the_correlation_id() -> anyhow::Result<()> {
        let handler = CorrelationIdLayer::new().layer(echo_twice());
        let msg = Message::new("x");
        let out = handler
            .handle(msg.clone(), &ctx())
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        // The inner handler saw the id as correlation id...
        assert_eq!(out[0].payload().as_ref(), msg.id().as_bytes());
        // ...and the produced messages carry it, unless they have their own.
        assert_eq!(out[0].metadata().get(keys::CORRELATION_ID), Some(msg.id()));
        assert_eq!(out[1].metadata().get(keys::CORRELATION_ID), Some("kept"));
        Ok(())
    }

    #[tokio::test]
    async fn existing_correlation_id_is_propagated_and_recorded() -> anyhow::Result<()> {
        let capture = SpanCapture::default();
        let _guard = capture.install();
        let handler = CorrelationIdLayer::new().layer(echo_twice());
        let msg = Message::new("x").with_metadata(keys::CORRELATION_ID, "corr-1");
        let span = tracing::info_span!("test", correlation_id = tracing::field::Empty);
        let out = handler
            .handle(msg, &ctx())
            .instrument(span)
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        assert_eq!(out[0].payload().as_ref(), b"corr-1");
        assert_eq!(out[0].metadata().get(keys::CORRELATION_ID), Some("corr-1"));
        assert_eq!(capture.values("correlation_id"), ["corr-1"]);
        Ok(())
    }
}
