//go:build !board

package main

import (
	"context"
	"log/slog"
	"path/filepath"

	"github.com/openkassa/kassa/device"
	"github.com/openkassa/kassa/device/sandbox"
)

// startRegister starts the register with the sandbox's emulated parts for
// every setting left on its default, and returns the wait for its end.
func startRegister(ctx context.Context, s device.Settings, log *slog.Logger) (*device.App, func(context.Context), error) {
	app, err := sandbox.Start(ctx, s, version, log)
	if err != nil {
		return nil, nil, err
	}
	if sb := app.Sandbox.File; sb.Cloud != "" {
		log.Info("sandbox ready", sandboxReady(sb, app.Settings.Data)...)
	}
	return app.App, app.Wait, nil
}

// sandboxReady is what the "sandbox ready" line says: where things are and
// the integration login, never a password (logs travel further than the
// 0600 sandbox.json, which holds them).
func sandboxReady(sb sandbox.File, data string) []any {
	return []any{"cloud", sb.Cloud, "login", sb.Login, "retailPointId", sb.RetailPointID, "ofd", sb.OFD,
		"ofdLookup", sb.OFDLookup, "sandbox", filepath.Join(data, "sandbox.json")}
}
