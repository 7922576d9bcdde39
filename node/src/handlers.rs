//! How a service's methods are reached. Every method has the shape
//! `async fn m(&self, caller: &Caller, req: Req) -> Result<Resp, ApiError>`; these macros
//! write the tonic impl and the gateway's JSON dispatch around such methods, so the two edges
//! cannot drift apart and no service repeats the glue.

/// Implements a tonic service trait for `$svc`: each unary method takes the caller the guard
/// admitted and calls the method of the same shape. Anything the trait needs besides unary
/// methods (stream types and streaming methods) follows the list verbatim. The whole impl is
/// generated because `async_trait` must see the methods already expanded.
macro_rules! grpc_service {
    ($trait:path, $svc:ty {
        $($name:ident => $method:ident($req:ty) -> $resp:ty;)*
    } $($extra:tt)*) => {
        #[tonic::async_trait]
        impl $trait for $svc {
            $(
                async fn $name(
                    &self,
                    req: tonic::Request<$req>,
                ) -> Result<tonic::Response<$resp>, tonic::Status> {
                    $crate::auth::with_caller(req, |caller, r| async move {
                        <$svc>::$method(self, &caller, r).await
                    })
                    .await
                }
            )*
            $($extra)*
        }
    };
}

/// Implements [`JsonService`](crate::api::JsonService) for `$svc`: `"Handler.Method"` names
/// mapped to methods; other endpoints are not found. An optional `streams { … }` list maps
/// streaming endpoints (served as server-sent events) to methods that return a stream.
macro_rules! json_service {
    ($svc:ty { $($endpoint:literal => $method:ident,)* }
     $(streams { $($s_endpoint:literal => $s_method:ident,)* })?) => {
        impl $crate::api::JsonService for $svc {
            fn call(
                &self,
                endpoint: &str,
                caller: $crate::auth::Caller,
                body: serde_json::Value,
            ) -> Option<$crate::api::JsonAnswer<'_>> {
                Some(match endpoint {
                    $(
                        $endpoint => Box::pin($crate::api::json(body, move |r| async move {
                            <$svc>::$method(self, &caller, r).await
                        })),
                    )*
                    _ => return None,
                })
            }

            $(
            fn stream(
                &self,
                endpoint: &str,
                caller: $crate::auth::Caller,
                body: serde_json::Value,
            ) -> Option<$crate::api::JsonStreamAnswer<'_>> {
                Some(match endpoint {
                    $(
                        $s_endpoint => Box::pin($crate::api::json_stream(body, move |r| async move {
                            <$svc>::$s_method(self, &caller, r).await
                        })),
                    )*
                    _ => return None,
                })
            }
            )?
        }
    };
}

pub(crate) use {grpc_service, json_service};
