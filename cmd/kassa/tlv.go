package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/openkassa/kassa/fiscal"
)

func init() {
	register(command{
		name:    "tlv",
		summary: "decode a fiscal document's TLV bytes: tlv decode FILE|-",
		run:     runTLV,
	})
}

func runTLV(_ context.Context, args []string) error {
	fs := newFlags("tlv", "kassa tlv decode FILE|-",
		"Decodes a fiscal document's TLV bytes (from FILE, or standard input for -) and prints\n"+
			"the document (its STLV, header included) as indented JSON. It reads no data directory.")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 2 || fs.Arg(0) != "decode" {
		return errors.New("usage: kassa tlv decode FILE|-")
	}
	var (
		b   []byte
		err error
	)
	if name := fs.Arg(1); name == "-" {
		b, err = io.ReadAll(os.Stdin)
	} else {
		b, err = os.ReadFile(name)
	}
	if err != nil {
		return err
	}
	doc, err := fiscal.Decode(b)
	if err != nil {
		return err
	}
	out, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		return err
	}
	_, err = fmt.Printf("%s\n", out)
	return err
}
