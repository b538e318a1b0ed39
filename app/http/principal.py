"""Where a request's caller is found: the ASGI scope key under which the auth gate
(app.graphql.gate.AuthGate) puts the authenticated Principal, None for no token. The HTTP
routes beside GraphQL (downloads) read it from here."""

PRINCIPAL = "modelrepo.principal"
