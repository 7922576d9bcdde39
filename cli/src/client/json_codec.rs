//! Micro's JSON over gRPC from the client side: a tonic codec whose messages are JSON values,
//! for calls to endpoints known only from the registry (dynamic commands). The server
//! recognises such calls by the `x-content-type: application/json` metadata.

use bytes::{Buf, BufMut};
use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};
use tonic::Status;

/// Metadata telling the server the messages are JSON (tonic fixes `content-type` itself).
pub const CONTENT_TYPE_HEADER: &str = "x-content-type";
/// Its value.
pub const JSON: &str = "application/json";

/// Encodes and decodes `serde_json::Value` messages.
#[derive(Debug, Clone, Copy, Default)]
pub struct JsonCodec;

impl Codec for JsonCodec {
    type Encode = serde_json::Value;
    type Decode = serde_json::Value;
    type Encoder = JsonCodec;
    type Decoder = JsonCodec;

    fn encoder(&mut self) -> Self::Encoder {
        JsonCodec
    }

    fn decoder(&mut self) -> Self::Decoder {
        JsonCodec
    }
}

impl Encoder for JsonCodec {
    type Item = serde_json::Value;
    type Error = Status;

    fn encode(&mut self, item: Self::Item, dst: &mut EncodeBuf<'_>) -> Result<(), Status> {
        let bytes = serde_json::to_vec(&item).map_err(|e| Status::internal(e.to_string()))?;
        dst.put_slice(&bytes);
        Ok(())
    }
}

impl Decoder for JsonCodec {
    type Item = serde_json::Value;
    type Error = Status;

    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<Self::Item>, Status> {
        let bytes = src.copy_to_bytes(src.remaining());
        if bytes.is_empty() {
            return Ok(Some(serde_json::json!({})));
        }
        serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| Status::internal(format!("the server sent invalid JSON: {e}")))
    }
}
