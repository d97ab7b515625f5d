package pki_test

import (
	"fmt"
	"os"

	"github.com/diracgo/diracrpc/endpoint/credentials"
	"github.com/diracgo/diracrpc/testharness/pki"
)

// A throw-away PKI written to disk, then found and verified the way a DIRAC
// client would find it (through the X509_* variables).
func Example() {
	ca, err := pki.New(pki.Options{})
	if err != nil {
		panic(err)
	}
	dir, _ := os.MkdirTemp("", "pki")
	defer os.RemoveAll(dir)
	files, err := ca.WriteDir(dir)
	if err != nil {
		panic(err)
	}
	loc := credentials.Locator{LookupEnv: files.LookupEnv}
	proxy, err := loc.Proxy(credentials.LoadOptions{})
	if err != nil {
		panic(err)
	}
	cas, err := loc.CAs()
	if err != nil {
		panic(err)
	}
	info, err := (&credentials.Verifier{CAs: cas}).Verify(proxy.Chain)
	if err != nil {
		panic(err)
	}
	fmt.Println(info.DN, info.IsProxy, info.Group)
	// Output: /C=ch/O=DIRAC/OU=diracrpc test/CN=testuser true dirac_user
}
