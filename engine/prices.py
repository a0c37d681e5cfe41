"""AWS prices the estimates use, each with where and when it was read: one place to update them.

Light on purpose (no import): the command line's options show the defaults.
"""

from __future__ import annotations

PRICE_PER_MILLION_WRU = 0.625
PRICE_SOURCE = (
    "AWS DynamoDB on-demand, Standard table class, us-east-1: USD 0.625 per million write request units "
    "(in force since the 2024-11-01 price cut; read 2026-11-25)"
)
PRICE_PER_MILLION_RRU = 0.125
PRICE_SOURCE_RRU = (
    "AWS DynamoDB on-demand, Standard table class, us-east-1: USD 0.125 per million read request units "
    "(in force since the 2024-11-01 price cut; read 2026-11-25)"
)
IMPORT_PRICE_PER_GB = 0.15
IMPORT_PRICE_SOURCE = (
    "AWS DynamoDB pricing, import from S3, us-east-1: USD 0.15 per GB of uncompressed source data (read 2026-11-26)"
)
#: Bulk put: AWS's price per GB was not in the sources read for this estimate (2026-12-07): assumed equal to
#: ImportTable's per GB of uncompressed input; give the real one with --bulk-put-price.
BULK_PUT_PRICE_PER_GB = IMPORT_PRICE_PER_GB
BULK_PUT_PRICE_SOURCE = (
    "assumed equal to ImportTable's USD 0.15 per GB: the bulk put price was not found in the pages read on "
    "2026-12-07 (see https://aws.amazon.com/dynamodb/pricing/); --bulk-put-price sets it"
)
WARM_PRICE_NOTE = (
    "AWS charges a pre-warm once, per unit raised above the table's current warm throughput "
    "(https://aws.amazon.com/dynamodb/pricing/); the price per unit is not estimated here"
)
