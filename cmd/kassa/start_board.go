//go:build board

package main

import (
	"context"
	"log/slog"

	"github.com/openkassa/kassa/device"
)

// startRegister starts the register with the real parts its settings name:
// the board build carries no emulator, so each part needs its setting.
func startRegister(ctx context.Context, s device.Settings, log *slog.Logger) (*device.App, func(context.Context), error) {
	app, err := device.Start(ctx, s, device.Parts{}, version, log)
	if err != nil {
		return nil, nil, err
	}
	return app, app.Wait, nil
}
