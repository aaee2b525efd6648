package jwt

import (
	"errors"
	"fmt"
	"slices"

	"github.com/google/cel-go/common"
	"github.com/google/cel-go/common/ast"
	"github.com/google/cel-go/common/operators"
	"github.com/google/cel-go/parser"
	"k8s.io/apiserver/pkg/apis/apiserver"
	"k8s.io/apiserver/pkg/authentication/authenticator"
	"k8s.io/apiserver/pkg/authentication/user"
)

// ErrEmptyUsernameClaim is returned when the claims a username is mapped
// from are empty, so that it would be only the claim mapping's own text.
var ErrEmptyUsernameClaim = errors.New("token username claim is empty")

// maxBareNames bounds the analysis of one expression, since each
// conditional doubles what a concatenation around it can yield. Values
// beyond it are not checked; real mappings yield one or two.
const maxBareNames = 64

// bareNames are what the claim mappings yield when every claim they read
// is empty: a claim's prefix alone ("oidc:" for an empty sub), or what is
// left of a CEL expression ("oidc:" from `"oidc:" + claims.sub`). Such a
// name belongs to no one. kube-apiserver's JWT authenticator
// (k8s.io/apiserver plugin/pkg/authenticator/token/oidc, getUsername and
// getGroups) refuses an empty CEL username, but prefixes an empty claim,
// and an expression that adds text to a claim is never empty. The empty
// name itself is left to package mapping, which refuses or drops it on
// every path.
type bareNames struct {
	usernames []string
	groups    []string
}

func newBareNames(m apiserver.ClaimMappings) (bareNames, error) {
	var b bareNames
	var err error
	if b.usernames, err = bareOf(m.Username, stringParts); err != nil {
		return b, fmt.Errorf("claimMappings.username.expression: %w", err)
	}
	if b.groups, err = bareOf(m.Groups, listParts); err != nil {
		return b, fmt.Errorf("claimMappings.groups.expression: %w", err)
	}
	return b, nil
}

// bareOf is the prefix of a claim mapping, or what its expression yields
// from empty claims; never "".
func bareOf(c apiserver.PrefixedClaimOrExpression, parts func(ast.Expr) []part) ([]string, error) {
	if c.Expression == "" {
		if c.Claim != "" && c.Prefix != nil && *c.Prefix != "" {
			return []string{*c.Prefix}, nil
		}
		return nil, nil
	}
	e, err := parseCEL(c.Expression)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, p := range parts(e) {
		if p.readsClaims && p.text != "" && !slices.Contains(out, p.text) {
			out = append(out, p.text)
		}
	}
	return out, nil
}

// parseCEL parses without macros, so that `.map(g, ...)` stays a call
// whose body can be read. kube-apiserver has already compiled the
// expression with its own environment; optional syntax is enabled as there.
func parseCEL(expr string) (ast.Expr, error) {
	p, err := parser.NewParser(parser.EnableOptionalSyntax(true))
	if err != nil {
		return nil, err
	}
	a, errs := p.Parse(common.NewTextSource(expr))
	if len(errs.GetErrors()) > 0 {
		return nil, errors.New("expression does not parse")
	}
	return a.Expr(), nil
}

// part is one value an expression can yield from empty claims: its
// literal text, and whether any claim went into it. A value made of
// literals alone is a name the operator chose, not a bare one.
type part struct {
	text        string
	readsClaims bool
}

// stringParts: string concatenation and conditionals of literals are
// followed; anything else (a claim, a function of it) may be empty.
func stringParts(e ast.Expr) []part {
	switch e.Kind() {
	case ast.LiteralKind:
		if s, ok := e.AsLiteral().Value().(string); ok {
			return []part{{text: s}}
		}
	case ast.CallKind:
		c := e.AsCall()
		switch args := c.Args(); {
		case c.FunctionName() == operators.Add && len(args) == 2:
			return concat(stringParts(args[0]), stringParts(args[1]))
		case c.FunctionName() == operators.Conditional && len(args) == 3:
			return union(stringParts(args[1]), stringParts(args[2]))
		}
	}
	return []part{{readsClaims: true}}
}

// listParts is for the groups expression: a list literal, list
// concatenation, a conditional, `.map(x, body)` or `.filter(...)` of a
// list, or a single string.
func listParts(e ast.Expr) []part {
	switch e.Kind() {
	case ast.ListKind:
		var out []part
		for _, el := range e.AsList().Elements() {
			out = union(out, stringParts(el))
		}
		return out
	case ast.CallKind:
		c := e.AsCall()
		switch args := c.Args(); {
		case c.FunctionName() == operators.Add && len(args) == 2:
			// List or string concatenation: without types, assume either.
			return union(union(listParts(args[0]), listParts(args[1])), stringParts(e))
		case c.FunctionName() == operators.Conditional && len(args) == 3:
			return union(listParts(args[1]), listParts(args[2]))
		case c.IsMemberFunction() && c.FunctionName() == "map" && (len(args) == 2 || len(args) == 3):
			return stringParts(args[len(args)-1])
		case c.IsMemberFunction() && c.FunctionName() == "filter" && len(args) == 2:
			return listParts(c.Target())
		}
	}
	return stringParts(e)
}

func concat(a, b []part) []part {
	var out []part
	for _, x := range a {
		for _, y := range b {
			out = union(out, []part{{text: x.text + y.text, readsClaims: x.readsClaims || y.readsClaims}})
		}
	}
	return out
}

func union(a, b []part) []part {
	for _, p := range b {
		if len(a) < maxBareNames && !slices.Contains(a, p) {
			a = append(a, p)
		}
	}
	return a
}

// check refuses a bare username and drops bare groups. resp is not
// modified: a new response is returned when a group is dropped.
func (b bareNames) check(resp *authenticator.Response) (*authenticator.Response, error) {
	u := resp.User
	if slices.Contains(b.usernames, u.GetName()) {
		return nil, ErrEmptyUsernameClaim
	}
	if !slices.ContainsFunc(u.GetGroups(), b.isBareGroup) {
		return resp, nil
	}
	out := *resp
	out.User = &user.DefaultInfo{
		Name: u.GetName(), UID: u.GetUID(), Extra: u.GetExtra(),
		Groups: slices.DeleteFunc(slices.Clone(u.GetGroups()), b.isBareGroup),
	}
	return &out, nil
}

func (b bareNames) isBareGroup(g string) bool {
	return slices.Contains(b.groups, g)
}
