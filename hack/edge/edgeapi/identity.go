package edgeapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/structpb"
	"k8s.io/apiserver/pkg/endpoints/request"

	"github.com/tokenfed/tokenfed/pkg/authn/mapping"
	"github.com/tokenfed/tokenfed/pkg/client/httpauth"
)

// Identity is who the device is, as tokenfed answered for its token: the
// answer of WhoAmIPath (JSON) and of the gRPC WhoAmI (a Struct with the
// same fields).
type Identity struct {
	// User is the federated name, e.g.
	// hub:system:serviceaccount:devices:device-1.
	User   string   `json:"user"`
	UID    string   `json:"uid,omitempty"`
	Groups []string `json:"groups"`
	// Issuer is the extra tokenfed.io/issuer: the issuer that vouched.
	Issuer string `json:"issuer"`
	// Audiences are those of the edge API's the token was accepted for.
	Audiences []string `json:"audiences"`
}

var errNoUser = errors.New("no authenticated user in the context")

// identityFrom reads what the middleware put in ctx. httpauth and grpcauth
// share TokenAudiencesFrom.
func identityFrom(ctx context.Context) (Identity, error) {
	u, ok := request.UserFrom(ctx)
	if !ok || u == nil {
		return Identity{}, errNoUser
	}
	auds, _ := httpauth.TokenAudiencesFrom(ctx)
	id := Identity{
		User: u.GetName(), UID: u.GetUID(),
		Groups:    slices.Clone(u.GetGroups()),
		Audiences: slices.Clone([]string(auds)),
	}
	if iss := u.GetExtra()[mapping.IssuerExtraKey]; len(iss) > 0 {
		id.Issuer = iss[0]
	}
	return id, nil
}

// Struct is id as the gRPC answer.
func (id Identity) Struct() (*structpb.Struct, error) {
	data, err := json.Marshal(id)
	if err != nil {
		return nil, err
	}
	s := &structpb.Struct{}
	return s, protojson.Unmarshal(data, s)
}

// IdentityFromStruct reads a gRPC answer.
func IdentityFromStruct(s *structpb.Struct) (Identity, error) {
	data, err := protojson.Marshal(s)
	if err != nil {
		return Identity{}, err
	}
	var id Identity
	if err := json.Unmarshal(data, &id); err != nil {
		return Identity{}, fmt.Errorf("decoding an identity: %w", err)
	}
	return id, nil
}
