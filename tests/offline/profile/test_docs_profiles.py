"""docs/profiles.md shows the table's DDL as lbguard creates it: generated, so it cannot go stale."""


from lbguard.offline import logsql

from tests.conftest import ROOT

DOC = ROOT / "docs" / "profiles.md"


def test_the_ddl_in_the_docs_is_the_one_lbguard_creates():
    text = DOC.read_text()
    block = text.split("```sql\n", 1)[1].split("\n```", 1)[0]
    assert block == logsql.create_table_ddl(
        "alb_logs", "alb_access_logs", "s3://BUCKET/PREFIX/AWSLogs/ACCOUNT/elasticloadbalancing/REGION") + ";"
