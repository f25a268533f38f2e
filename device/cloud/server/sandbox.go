package server

import (
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"

	"github.com/openkassa/kassa/device/cloud"
	"github.com/openkassa/kassa/device/cloud/server/storage"
	"github.com/openkassa/kassa/fiscal"
	"golang.org/x/crypto/bcrypt"
)

// Sandbox is what var/sandbox.json needs to start posting to the sandbox cloud.
type Sandbox = storage.Sandbox

// SandboxPoint is one retail point of the sandbox cabinet with its integration pair.
type SandboxPoint = storage.SandboxPoint

// sandboxClientID is the clientId of the sandbox's own pairs, so that an integrator
// calling associate (without clientId) gets a fresh pair and sandbox.json keeps working.
const sandboxClientID = "sandbox"

// sandboxNotify is where the sandbox points' alerts go: the sandbox's SMTP sink keeps them.
const sandboxNotify = "owner@shop.example"

// sandboxPoints are the sandbox cabinet's shops; 7707083893 is a valid INN (check digits
// hold). Names stay within CP866, which has no «guillemets».
var sandboxPoints = []cloud.Point{
	{Name: `ООО "Песочница"`, INN: "7707083893", TaxSystems: fiscal.TaxGeneral | fiscal.TaxSimpleIncome,
		Address: "г. Москва, ул. Тверская, д. 1", Place: "https://shop.example", Email: "receipts@shop.example"},
	{Name: `ООО "Песочница", второй магазин`, INN: "7707083893", TaxSystems: fiscal.TaxSimpleIncome,
		Address: "г. Москва, ул. Арбат, д. 2", Place: "https://second.shop.example", Email: "receipts@second.shop.example"},
}

// Sandbox creates, once, a cabinet account owning two retail points with their
// integration pairs and a register bound to the first point, and returns them;
// later calls (and later runs on the same file) return the same. The sandbox keeps
// its own secrets in clear in the file, since it exists to hand them out.
func (s *Server) Sandbox() (Sandbox, error) {
	sb, err := s.store.Sandbox(s.ctx)
	if errors.Is(err, storage.ErrNotFound) {
		var seed storage.SandboxSeed
		if seed, err = s.newSandbox(); err == nil {
			err = s.store.CreateSandbox(s.ctx, seed)
			sb = seed.Sandbox
		}
		if errors.Is(err, storage.ErrConflict) { // made meanwhile by another call
			sb, err = s.store.Sandbox(s.ctx)
		}
		if err == nil {
			s.log.Info("cloud: sandbox created", "cabinet", sb.CabinetLogin, "point", sb.RetailPointID)
		}
	}
	if err != nil {
		return Sandbox{}, fmt.Errorf("cloud: sandbox: %w", err)
	}
	return sb, nil
}

// newSandbox makes the sandbox's account, points, pairs and register.
func (s *Server) newSandbox() (storage.SandboxSeed, error) {
	var seed storage.SandboxSeed
	sb := &seed.Sandbox
	login, err := s.random(6)
	if err != nil {
		return seed, err
	}
	sb.CabinetLogin = "cabinet-" + base64.RawURLEncoding.EncodeToString(login)
	if sb.CabinetPassword, err = s.secret(); err != nil {
		return seed, err
	}
	// The hash has the configured cost although the password is random and kept
	// in clear for sandbox.json: a cheaper hash than the dummy one compared for
	// unknown logins would tell by its timing that this login exists.
	hash, err := bcrypt.GenerateFromPassword([]byte(sb.CabinetPassword), s.cfg.PasswordCost)
	if err != nil {
		return seed, fmt.Errorf("cabinet password: %w", err)
	}
	seed.Account = storage.Account{Login: sb.CabinetLogin, PasswordHash: hash}
	for _, p := range sandboxPoints {
		if p.ID, err = s.uuid(); err != nil {
			return seed, err
		}
		seed.Account.Points = append(seed.Account.Points, p.ID)
		defaultSettings(&p)
		seed.Points = append(seed.Points, storage.Point{Point: p, Account: sb.CabinetLogin, Settings: true, NotifyEmail: sandboxNotify})
		pass, err := s.secret()
		if err != nil {
			return seed, err
		}
		salt, err := s.random(16)
		if err != nil {
			return seed, err
		}
		user, err := s.random(8)
		if err != nil {
			return seed, err
		}
		l := storage.ShopLogin{User: hex.EncodeToString(user), PointID: p.ID, ClientID: sandboxClientID, Salt: salt, Hash: hashSecret(salt, pass)}
		seed.Logins = append(seed.Logins, l)
		sb.RetailPoints = append(sb.RetailPoints, SandboxPoint{ID: p.ID, Name: p.Name, Login: l.User, Password: pass})
	}
	first := sb.RetailPoints[0]
	sb.Login, sb.Password, sb.RetailPointID = first.Login, first.Password, first.ID
	b, err := s.random(32)
	if err != nil {
		return seed, err
	}
	sb.RegisterToken = base64.RawURLEncoding.EncodeToString(b)
	seed.Register = storage.Register{ID: tokenKey(sb.RegisterToken), PointID: first.ID, BoundAt: s.now()}
	return seed, nil
}
