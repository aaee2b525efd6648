package keyset

// upToDate reports whether the keys served are the issuer's current key
// set, so that a kid they lack is not one the issuer signs with:
//   - they were fetched from the issuer. Static keys are the operator's copy
//     and may lag a rotation;
//   - the last fetch succeeded. After a failure the issuer may have rotated
//     since the keys served were fetched;
//   - that fetch completed within UnknownKidCooldown, the window in which an
//     unknown kid triggers no new fetch: it is as recent as a fetch for this
//     kid could have made it.
//
// kube-apiserver publishes every key it verifies service-account tokens
// with (pkg/serviceaccount/openidmetadata.go serves all of
// --service-account-key-file), and an OpenID provider publishes its signing
// keys, so a fresh document without the kid settles the question.
func (k *KeySet) upToDate() bool {
	if _, remote := k.src.(*httpSource); !remote {
		return false
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	s := k.keys.Load()
	return k.lastErr == "" && s != nil && k.clock.Since(s.loadedAt) <= k.opts.UnknownKidCooldown
}
