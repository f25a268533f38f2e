package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/openkassa/kassa/device"
	"github.com/openkassa/kassa/device/cloud"
	"github.com/openkassa/kassa/fiscal"
	"github.com/openkassa/kassa/fiscal/fn"
)

func init() {
	register(command{name: "register", summary: "register a new drive: its registration report (1), the register stopped",
		run: runRegisterDrive})
}

// runRegisterDrive signs a new drive's registration report with the retail
// point's data from the cloud and the registration number the tax service
// issued. It talks to the drive itself, so the register must not run.
func runRegisterDrive(ctx context.Context, args []string) error {
	fs := newFlags("register", "kassa register --config FILE REGNUMBER [--yes]",
		"Registers a new fiscal drive: it signs the registration report (1) with the retail point's\n"+
			"data from the cloud (seller, address, tax systems, OFD, the register's modes) and REGNUMBER,\n"+
			"the 16-digit registration number the tax service issued for this register's serial number.\n"+
			"Without --yes it shows what it would sign. Stop the register first (systemctl stop kassa):\n"+
			"the command speaks to the drive on drive.port itself.")
	config := fs.String("config", "", "the register's settings file (docs/config.md): cloud.url, cloud.token, drive.port, register.serial")
	yes := fs.Bool("yes", false, "sign the registration report")
	reg, err := parseOne(fs, args, "REGNUMBER")
	if err == nil && *config == "" {
		err = errors.New("want --config FILE")
	}
	if err != nil {
		fs.Usage()
		return fmt.Errorf("register: %w", err)
	}
	s, err := device.LoadSettings(*config)
	if err != nil {
		return err
	}
	s.ApplyDefaults()
	if s.Cloud.URL == "" {
		return errors.New("register: cloud.url: the retail point's data comes from the cloud")
	}
	pctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	p, err := cloud.NewClient(s.Cloud.URL, s.Cloud.Token, &http.Client{Timeout: 30 * time.Second}).Point(pctx)
	if err != nil {
		return fmt.Errorf("register: the retail point's data: %w", err)
	}
	if err := fiscal.ValidRegNumber(reg, p.INN, s.Register.Serial); err != nil {
		return fmt.Errorf("register: %w (the point's INN %s, the register's serial %s)", err, p.INN, s.Register.Serial)
	}
	g := p.Registration(s.Register.Serial, version, reg)
	log, err := device.NewLogger(os.Stderr, s.Log)
	if err != nil {
		return err
	}
	d, port, err := device.OpenDrive(s.Drive, log.With("part", "fn"))
	if err != nil {
		return err
	}
	defer port.Close()
	st, err := d.State(ctx)
	if err != nil {
		return fmt.Errorf("register: the drive: %w", err)
	}
	if st.Phase != fn.PhaseNotRegistered {
		return fmt.Errorf("register: drive %s is %s, not ready for registration (kassa reregister changes a registration)", st.DriveNumber, st.Phase)
	}
	fmt.Print(registrationSummary(st.DriveNumber, g))
	if !*yes {
		fmt.Println("Nothing signed. Repeat with --yes to sign the registration report; the tax service sees it.")
		return nil
	}
	signed, err := device.RegisterDrive(ctx, d, g, time.Now())
	if err != nil {
		return err
	}
	fmt.Printf("registration report signed: FD %d, ФП %010d\n", signed.FD, signed.FPD)
	return nil
}

// registrationSummary is what the technician checks before signing.
func registrationSummary(drive string, g fiscal.Registration) string {
	var b strings.Builder
	fmt.Fprintf(&b, "drive         %s\n", drive)
	fmt.Fprintf(&b, "user          %s, INN %s\n", g.Seller.Name, g.Seller.INN)
	fmt.Fprintf(&b, "address       %s; place %s\n", g.Seller.Address, g.Seller.Place)
	fmt.Fprintf(&b, "registration  %s, serial %s\n", g.Seller.RegNumber, g.Serial)
	fmt.Fprintf(&b, "OFD           %s, INN %s\n", g.OFDName, g.OFDINN)
	return b.String()
}
