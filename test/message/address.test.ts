import assert from "node:assert/strict";
import { describe, it } from "node:test";
import addrs from "email-addresses";
import { SMTPError } from "../../src/errors.js";
import { domainToAscii, needsSmtpUtf8, parseMailbox, toEnvelopeAddress } from "../../src/message/address.js";

const isInputError = (e: unknown): boolean => e instanceof SMTPError && e.code === "EINPUT";

// [input, expected name (undefined: none), expected address]
const VALID: [string, string | undefined, string][] = [
  ["user@example.com", undefined, "user@example.com"],
  ["  user@example.com  ", undefined, "user@example.com"],
  ["<user@example.com>", undefined, "user@example.com"],
  ["John Smith <john@example.com>", "John Smith", "john@example.com"],
  ["John   Smith<john@example.com>", "John Smith", "john@example.com"],
  ['"Smith, John" <john@example.com>', "Smith, John", "john@example.com"],
  ['"John \\"Johnny\\" Smith" <john@example.com>', 'John "Johnny" Smith', "john@example.com"],
  ['"back\\\\slash" <b@example.com>', "back\\slash", "b@example.com"],
  ['"" <empty@example.com>', undefined, "empty@example.com"],
  ["John Q. Public <jqp@example.com>", "John Q. Public", "jqp@example.com"],
  ['"john@example.com" <john@example.com>', "john@example.com", "john@example.com"],
  ["first.last+tag@sub.example.co.uk", undefined, "first.last+tag@sub.example.co.uk"],
  ["!#$%&'*+-/=?^_`{|}~@example.com", undefined, "!#$%&'*+-/=?^_`{|}~@example.com"],
  ['"quoted"@example.com', undefined, "quoted@example.com"],
  ['"with space"@example.com', undefined, '"with space"@example.com'],
  ['"a@b"@example.com', undefined, '"a@b"@example.com'],
  ["user@localhost", undefined, "user@localhost"],
  ["user@[192.0.2.1]", undefined, "user@[192.0.2.1]"],
  ["user@[IPv6:2001:db8::1]", undefined, "user@[IPv6:2001:db8::1]"],
  ["Name <user@[IPv6:::1]>", "Name", "user@[IPv6:::1]"],
  ["user@xn--bcher-kva.example", undefined, "user@xn--bcher-kva.example"],
  ["user@b\u00fccher.example", undefined, "user@b\u00fccher.example"],
  [
    "J\u00f6rg M\u00fcller <j\u00f6rg@b\u00fccher.example>",
    "J\u00f6rg M\u00fcller",
    "j\u00f6rg@b\u00fccher.example",
  ],
  ["\u7530\u4e2d <tanaka@example.jp>", "\u7530\u4e2d", "tanaka@example.jp"],
  ["User@Example.COM", undefined, "User@Example.COM"],
  [`${"a".repeat(64)}@example.com`, undefined, `${"a".repeat(64)}@example.com`],
  [`u@${"a".repeat(63)}.com`, undefined, `u@${"a".repeat(63)}.com`],
];

// [input, what the error message must mention]
const INVALID: [string, RegExp][] = [
  ["", /empty/],
  ["   ", /empty/],
  ["a@b.com, c@d.com", /list/],
  ["John <a@b.com>, Jane <c@d.com>", /list/],
  ["a@b.com c@d.com", /more than one "@"|not one address/],
  ["Group: a@b.com;", /group/],
  ["Group: <a@b.com>;", /group/],
  ["undisclosed-recipients:;", /group/],
  ["<a@b.com> trailing", /after ">"/],
  ["Name <a@b.com> <c@d.com>", /after ">"/],
  ["a@b.com (comment)", /comment|not one address|domain/],
  ["(comment) <a@b.com>", /comment/],
  ["<a<b@c.com>", /inside/],
  ["<a@b.com", /without ">"/],
  ["a@b.com>", /without "<"/],
  ['"Evil <x@y.com>" <a@b.com>', /"<" or ">"/],
  ['"a>b"@example.com', /"<" or ">"|without "<"/],
  ["a@b.com\r\nRCPT TO:<evil@x.com>", /control/],
  ["a@b.com\n", /control/],
  ["a\u0000@b.com", /control/],
  ["Name\t<a@b.com>", /control/],
  ["a\u0085@b.com", /control/],
  ["@example.com", /empty local part/],
  ["user@", /empty domain/],
  ["user", /no "@"/],
  ["John Smith", /not one address|no "@"/],
  ["a@b@c.com", /more than one "@"/],
  [".user@example.com", /invalid local part/],
  ["user.@example.com", /invalid local part/],
  ["us..er@example.com", /invalid local part/],
  ["us(er@example.com", /invalid local part/],
  ['""@example.com', /empty local part/],
  ['"unterminated@example.com', /unterminated/],
  [`${"a".repeat(65)}@example.com`, /64 octets/],
  ["user@-ab.com", /hyphen/],
  ["user@ab-.com", /hyphen/],
  ["user@a..b", /empty label/],
  ["user@.example.com", /empty label/],
  ["user@example.com.", /ends with a dot/],
  ["user@exa_mple.com", /letters, digits/],
  ["user@exa mple.com", /letters, digits/],
  [`user@${"a".repeat(64)}.com`, /63/],
  [`user@${"abcdefghi.".repeat(26)}com`, /253/],
  ["user@1.2.3.4", /\[a\.b\.c\.d\]/],
  ["user@[1.2.3]", /address literal/],
  ["user@[IPv6:nope]", /address literal/],
  ["user@[tag:content]", /address literal/],
  ["user@[192.0.2.1", /unterminated/],
  ["a,b@example.com", /list/],
  ["John@Doe <a@b.com>", /"@"/],
  ["John [x] <a@b.com>", /quotes/],
];

describe("parseMailbox", () => {
  for (const [input, name, address] of VALID) {
    it(`accepts ${JSON.stringify(input)}`, () => {
      const mailbox = parseMailbox(input);
      assert.deepEqual(mailbox, name === undefined ? { address } : { name, address });
    });
  }

  for (const [input, reason] of INVALID) {
    it(`refuses ${JSON.stringify(input)}`, () => {
      assert.throws(
        () => parseMailbox(input),
        (e: unknown) => isInputError(e) && reason.test((e as Error).message),
        `expected EINPUT matching ${reason}`,
      );
    });
  }

  it("refuses non-strings", () => {
    assert.throws(() => parseMailbox(42 as unknown as string), isInputError);
    assert.throws(() => parseMailbox(undefined as unknown as string), isInputError);
  });

  it("agrees with email-addresses (oracle) wherever that accepts the same input as one mailbox", () => {
    let compared = 0;
    for (const [input, name, address] of VALID) {
      const oracle = addrs.parseOneAddress(input);
      if (oracle === null || oracle.type !== "mailbox") continue;
      compared++;
      assert.equal(oracle.name ?? undefined, name ?? (oracle.name === "" ? "" : undefined), input);
      // The oracle keeps quoted local parts as written; compare the unquoted dot-atom cases.
      if (!input.includes('"') || input.includes('" <')) assert.equal(oracle.address, address, input);
    }
    assert.ok(compared >= 15, `compared ${compared} cases`);
  });

  it("never splits: the oracle sees several addresses where we refuse", () => {
    for (const input of ["a@b.com, c@d.com", "John <a@b.com>, Jane <c@d.com>"]) {
      const list = addrs.parseAddressList(input);
      assert.ok(list !== null && list.length === 2);
      assert.throws(() => parseMailbox(input), isInputError);
    }
  });
});

describe("toEnvelopeAddress and needsSmtpUtf8", () => {
  it("keeps ASCII addresses", () => {
    assert.equal(toEnvelopeAddress("user@example.com", false), "user@example.com");
    assert.equal(toEnvelopeAddress("user@[IPv6:::1]", false), "user@[IPv6:::1]");
  });

  it("turns an IDN domain into A-labels without SMTPUTF8", () => {
    assert.equal(toEnvelopeAddress("user@b\u00fccher.example", false), "user@xn--bcher-kva.example");
    assert.equal(
      toEnvelopeAddress("user@\u4f8b\u3048.\u30c6\u30b9\u30c8", false),
      "user@xn--r8jz45g.xn--zckzah",
    );
    assert.equal(needsSmtpUtf8(toEnvelopeAddress("user@b\u00fccher.example", false)), false);
  });

  it("sends UTF-8 as is with SMTPUTF8", () => {
    const address = "j\u00f6rg@b\u00fccher.example";
    assert.equal(toEnvelopeAddress(address, true), address);
    assert.equal(needsSmtpUtf8(toEnvelopeAddress(address, true)), true);
  });

  it("refuses a non-ASCII local part without SMTPUTF8 with EENVELOPE (not temporary)", () => {
    assert.throws(
      () => toEnvelopeAddress("j\u00f6rg@example.com", false),
      (e: unknown) => e instanceof SMTPError && e.code === "EENVELOPE" && e.temporary === false,
    );
  });

  it("checks IDN label rules that domainToASCII alone lets through", () => {
    assert.equal(domainToAscii("b\u00fccher.example"), "xn--bcher-kva.example");
    assert.equal(domainToAscii("example.com"), "example.com");
    assert.throws(() => domainToAscii("-b\u00fccher.example"), isInputError);
    assert.throws(() => domainToAscii("b\u00fccher..example"), isInputError);
    assert.throws(() => domainToAscii(`${"\u00fc".repeat(70)}.example`), isInputError);
  });
});
