package app

import (
	"context"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"time"

	"k8s.io/klog/v2"

	"github.com/tokenfed/tokenfed/pkg/apis/config/v1alpha1"
)

// maxKeyWait bounds how long a reload waits for added issuers' first key
// fetch before it swaps: an unreachable new issuer must not hold back the
// rest of the change.
const maxKeyWait = 10 * time.Second

// apply makes cfg the configuration in force (configreload.Options.Apply).
// Issuers whose configuration is unchanged carry on with their keys, and
// added or changed issuers get one try to load keys before the swap, so no
// review meets an empty key set. Reviews in flight finish on the
// configuration they started with. The listener's settings are fixed at
// start: a change to them is logged and waits for a restart.
func (a *App) apply(ctx context.Context, cfg *v1alpha1.Configuration) error {
	a.applyMu.Lock()
	defer a.applyMu.Unlock()
	logger := klog.FromContext(ctx)
	prev := a.current.Load()
	chain, err := prev.chain.Successor(ctx, cfg)
	if err != nil {
		return err
	}
	ca, err := successorClientCA(prev.clientCA, cfg.Server.ClientCAFile)
	if err != nil {
		return err
	}
	gen, err := a.generation(cfg, chain, ca)
	if err != nil {
		return err
	}
	chain.Run(a.runCtx)
	ca.start(a.runCtx)
	waitCtx, cancel := context.WithTimeout(ctx, maxKeyWait)
	err = chain.AwaitAddedKeys(waitCtx)
	cancel()
	if err != nil && ctx.Err() != nil {
		chain.Retire(prev.chain) // stops what the successor added
		if ca != prev.clientCA {
			ca.stop()
		}
		return fmt.Errorf("reload interrupted: %w", ctx.Err())
	}
	a.current.Store(gen)
	prev.chain.Retire(chain)
	if ca != prev.clientCA {
		prev.clientCA.stop()
	}
	added, removed, changed := issuerChanges(prev.cfg, cfg)
	logger.Info("configuration applied", "issuersAdded", added, "issuersRemoved", removed, "issuersChanged", changed)
	if serverOptions(&cfg.Server) != a.listener {
		logger.Info("listener settings differ from the ones serving (server.bindAddress, securePort, TLS files, timeouts or limits); they apply at the next restart")
	}
	return nil
}

// issuerChanges names the issuers cfg adds, removes and changes against
// prev, for the log. None is an empty list, not nil, which the log would
// print as null.
func issuerChanges(prev, cfg *v1alpha1.Configuration) (added, removed, changed []string) {
	added, removed, changed = []string{}, []string{}, []string{}
	before, after := issuersByName(prev), issuersByName(cfg)
	for _, name := range slices.Sorted(maps.Keys(after)) {
		old, ok := before[name]
		switch {
		case !ok:
			added = append(added, name)
		case !reflect.DeepEqual(old, after[name]):
			changed = append(changed, name)
		}
	}
	for _, name := range slices.Sorted(maps.Keys(before)) {
		if _, ok := after[name]; !ok {
			removed = append(removed, name)
		}
	}
	return added, removed, changed
}

func issuersByName(cfg *v1alpha1.Configuration) map[string]*v1alpha1.Issuer {
	m := map[string]*v1alpha1.Issuer{}
	for i := range cfg.Issuers {
		m[cfg.Issuers[i].Name] = &cfg.Issuers[i]
	}
	return m
}
