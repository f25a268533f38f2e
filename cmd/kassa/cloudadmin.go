//go:build !board

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"
)

// adminTokenEnv names the admin API's token when no --token-file is given.
const adminTokenEnv = "KASSA_ADMIN_TOKEN"

const cloudAdminUsage = `usage: kassa cloud admin [--cloud URL] [--token-file FILE] COMMAND

Provisions the cloud through its admin API (docs/admin.md): accounts of the
owner's cabinet, retail points with their seller data, the shops' integration
pairs and the registers' tokens. Each command prints the API's answer as JSON.

  account create LOGIN [--password-file FILE]   a cabinet account (the password
                                                from FILE, else from standard input)
  account show LOGIN                            the account and its points
  point create --account LOGIN --name NAME --inn INN --address ADDRESS
               [--place PLACE] [--email EMAIL] [--tax MODE[,MODE…]] [--timezone ZONE]
                                                a retail point of the account
  point show ID                                 the point and its register
  point shop-login ID                           a new integration pair for the point's shop
  point register ID                             a new token for the point's register (the
                                                last one stops working)

--cloud is the cloud's base URL (default http://127.0.0.1:8780); the token is
the one the cloud was started with (--admin-token-file), read from FILE or $` + adminTokenEnv + `.`

// runCloudAdmin is `kassa cloud admin …`: a client of the admin API.
func runCloudAdmin(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("cloud admin", flag.ContinueOnError)
	fs.Usage = func() { fmt.Fprintln(fs.Output(), cloudAdminUsage) }
	base := fs.String("cloud", "http://127.0.0.1:8780", "the cloud's base URL")
	tokenFile := fs.String("token-file", "", "the admin API's token (default $"+adminTokenEnv+")")
	if err := fs.Parse(args); err != nil {
		return err
	}
	token := os.Getenv(adminTokenEnv)
	if *tokenFile != "" {
		b, err := os.ReadFile(*tokenFile)
		if err != nil {
			return err
		}
		token = strings.TrimSpace(string(b))
	}
	if token == "" {
		return errors.New("cloud admin: no token: --token-file FILE or $" + adminTokenEnv)
	}
	c := adminClient{base: strings.TrimSuffix(*base, "/"), token: token, hc: &http.Client{Timeout: 30 * time.Second}}
	rest := fs.Args()
	if len(rest) < 2 {
		fs.Usage()
		return errors.New("cloud admin: want a command")
	}
	switch rest[0] + " " + rest[1] {
	case "account create":
		return c.createAccount(ctx, rest[2:])
	case "account show":
		return c.show(ctx, "/accounts/", rest[2:])
	case "point create":
		return c.createPoint(ctx, rest[2:])
	case "point show":
		return c.show(ctx, "/points/", rest[2:])
	case "point shop-login":
		return c.pointPost(ctx, "/shop-logins", rest[2:])
	case "point register":
		return c.pointPost(ctx, "/register", rest[2:])
	}
	fs.Usage()
	return fmt.Errorf("cloud admin: unknown command %q", strings.Join(rest[:2], " "))
}

type adminClient struct {
	base, token string
	hc          *http.Client
}

// call makes one request of the admin API and prints its JSON answer.
func (c adminClient) call(ctx context.Context, method, path string, in any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+"/api/admin/v1"+path, body)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode/100 != 2 {
		var e struct{ Field, Message string }
		if json.Unmarshal(out, &e) == nil && e.Message != "" {
			if e.Field != "" {
				return fmt.Errorf("cloud admin: HTTP %d: %s: %s", resp.StatusCode, e.Field, e.Message)
			}
			return fmt.Errorf("cloud admin: HTTP %d: %s", resp.StatusCode, e.Message)
		}
		return fmt.Errorf("cloud admin: HTTP %d: %s", resp.StatusCode, bytes.TrimSpace(out))
	}
	var pretty bytes.Buffer
	if json.Indent(&pretty, out, "", "  ") != nil {
		pretty.Reset()
		pretty.Write(out)
	}
	fmt.Println(pretty.String())
	return nil
}

func (c adminClient) createAccount(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("account create", flag.ContinueOnError)
	passwordFile := fs.String("password-file", "", "read the password from this file (default: standard input)")
	login, err := parseOne(fs, args, "LOGIN")
	if err != nil {
		return err
	}
	var pw []byte
	if *passwordFile != "" {
		pw, err = os.ReadFile(*passwordFile)
	} else {
		pw, err = io.ReadAll(io.LimitReader(os.Stdin, 4096))
	}
	if err != nil {
		return err
	}
	return c.call(ctx, "POST", "/accounts", map[string]string{"login": login, "password": strings.TrimRight(string(pw), "\r\n")})
}

func (c adminClient) createPoint(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("point create", flag.ContinueOnError)
	p := struct {
		Account    string   `json:"account"`
		Name       string   `json:"name"`
		INN        string   `json:"inn"`
		Address    string   `json:"address"`
		Place      string   `json:"place,omitempty"`
		Email      string   `json:"email,omitempty"`
		TaxSystems []string `json:"taxSystems,omitempty"`
		TimeZone   string   `json:"timeZone,omitempty"`
	}{}
	fs.StringVar(&p.Account, "account", "", "the cabinet account that owns the point")
	fs.StringVar(&p.Name, "name", "", "the user's name (1048)")
	fs.StringVar(&p.INN, "inn", "", "the user's INN (1018)")
	fs.StringVar(&p.Address, "address", "", "the settlement address (1009)")
	fs.StringVar(&p.Place, "place", "", "the settlement place (1187): a shop's site")
	fs.StringVar(&p.Email, "email", "", "the sender's e-mail (1117)")
	tax := fs.String("tax", "", "tax systems, comma-separated: COMMON, SIMPLIFIED, SIMPLIFIED_WITH_EXPENSE, ENVD, COMMON_AGRICULTURAL, PATENT")
	fs.StringVar(&p.TimeZone, "timezone", "", "the point's time zone, e.g. Asia/Vladivostok")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 0 {
		return fmt.Errorf("point create: unexpected %q", fs.Args())
	}
	if *tax != "" {
		p.TaxSystems = strings.Split(*tax, ",")
	}
	return c.call(ctx, "POST", "/points", p)
}

func (c adminClient) show(ctx context.Context, prefix string, args []string) error {
	id, err := parseOne(flag.NewFlagSet("show", flag.ContinueOnError), args, "ID")
	if err != nil {
		return err
	}
	return c.call(ctx, "GET", prefix+url.PathEscape(id), nil)
}

func (c adminClient) pointPost(ctx context.Context, suffix string, args []string) error {
	id, err := parseOne(flag.NewFlagSet("point", flag.ContinueOnError), args, "ID")
	if err != nil {
		return err
	}
	return c.call(ctx, "POST", "/points/"+url.PathEscape(id)+suffix, map[string]any{})
}
