"""Who may talk to the server, and as whom: TLS, node credentials, identities.

The contract (docs/security.md):

- Transport: with ``server.tls_cert_file`` / ``server.tls_key_file`` the gRPC port (OTLP
  and Fleet) and the OTLP/HTTP port speak only TLS; the files are re-read when they change, for new
  connections, without a restart. With ``server.tls_client_ca_file`` every client must
  present a certificate signed by that CA (mutual TLS); its Common Name is the node id.
- Credentials: with ``server.credentials_file`` every call carries
  ``authorization: Bearer <token>`` (what ``OTEL_EXPORTER_OTLP_HEADERS`` sets); the file
  holds only SHA-256 hashes of tokens, each bound to one node id, or to a gateway with
  the node ids it relays for (store.trust.credentials). It is re-read when it changes.
- Identity: the node id a credential or certificate proves is the only one a call may
  write as. A batch header (``parallax-node-id``) or heartbeat ``node_id`` naming
  another node is PERMISSION_DENIED and nothing is stored; spans without a batch header
  take the proven node id as their ``node_id``. A missing, unknown or revoked token is
  UNAUTHENTICATED. Refusals are counted and logged (rate-limited, with the peer).
- Exposure: without TLS and a way to prove node ids, the server listens on loopback
  only; any other address refuses to start unless ``server.insecure = true``.
"""

from store.trust.credentials import CredentialsFile, NodeCredential
from store.trust.identity import Authenticator, Identity, PermissionDenied, Unauthenticated
from store.trust.tls import server_credentials, server_ssl_context

__all__ = [
    "Authenticator",
    "CredentialsFile",
    "Identity",
    "NodeCredential",
    "PermissionDenied",
    "Unauthenticated",
    "server_credentials",
    "server_ssl_context",
]
