import jwt
import requests

from mock_idp import RunningServer
from tests.flow import CLIENT_ID, Flow


def test_full_flow_gives_verifiable_tokens(idp: RunningServer, flow: Flow) -> None:
    tokens = flow.tokens()
    jwks = requests.get(idp.url + "/oauth2/jwks").json()
    key = jwt.PyJWK(jwks["keys"][0])
    claims = jwt.decode(tokens["id_token"], key.key, algorithms=["RS256"], audience=CLIENT_ID, issuer=idp.url)
    assert claims["nonce"] == flow.last["nonce"]
    info = requests.get(idp.url + "/oauth2/userinfo", headers={"Authorization": "Bearer " + tokens["access_token"]})
    assert info.json()["email"] == "alice@example.com"
