"""The values the aws gang writes to EC2 at run time, against what EC2 documents for them (moto checks none).

- CreateSecurityGroup (docs.aws.amazon.com/AWSEC2/latest/APIReference/API_CreateSecurityGroup.html): GroupName
  and Description up to 255 characters of a-zA-Z0-9, space and ._-:/()#,@[]+=&;{}!$*; a name may not start
  with `sg-`.
- IpRange / UserIdGroupPair Description (API_UserIdGroupPair.html): the same characters, up to 255.
- CreatePlacementGroup (API_CreatePlacementGroup.html): GroupName up to 255 ASCII characters; Strategy one of
  cluster | spread | partition.
- Tags (docs.aws.amazon.com/tag-editor/latest/userguide/tagging.html): keys up to 128, values up to 256 characters.
"""

from __future__ import annotations

import pytest
from weatherballoon.cli.providers.aws import gang_network
from weatherballoon.infra.template_checks import text
from weatherballoon.infra.template_rules import EC2_DESCRIPTION_CHARS
from weatherballoon.lambdas import gang, tags

EC2_TEXT = text(EC2_DESCRIPTION_CHARS, max_len=255, min_len=1)
GANG_IDS = [gang_network.new_gang_id(1_790_000_000.0 + i) for i in range(50)]


# By index, not by the ids themselves: they are random, and every xdist worker must collect the same tests.
@pytest.mark.parametrize("index", range(5))
def test_group_name_and_descriptions_use_only_what_ec2_accepts(index: int) -> None:
    gang_id = GANG_IDS[index]
    name = gang_network.resource_name(gang_id)
    for value in (name, gang_network.GROUP_DESCRIPTION.format(gang_id=gang_id),
                  gang_network.RULE_DESCRIPTION.format(gang_id=gang_id)):  # fmt: skip
        assert EC2_TEXT(value) is None, value
    assert not name.lower().startswith("sg-")


def test_placement_group_name_and_strategy() -> None:
    for gang_id in GANG_IDS:
        name = gang_network.resource_name(gang_id)
        assert name.isascii() and 1 <= len(name) <= 255
    assert gang_network.CLUSTER in ("cluster", "spread", "partition")


def test_gang_ids_are_unique_tag_values() -> None:
    assert len(set(GANG_IDS)) == len(GANG_IDS)
    for gang_id in GANG_IDS:
        for key, value in gang.gang_tags(gang_id, gang.MAX_GANG_SIZE).items():
            assert len(key) <= 128 and 1 <= len(value) <= 256


def test_gang_resource_tags_are_exactly_what_the_member_policy_admits() -> None:
    from weatherballoon.infra.gang_policies import GANG_RESOURCE_TAG_KEYS

    labels = {**tags.wb_tags("AIDAALICE", "ml", "proj", "wb"), **gang.gang_tags("g", 3)}
    assert set(gang_network.gang_resource_tags(labels, "g")) <= set(GANG_RESOURCE_TAG_KEYS)
    assert gang_network.gang_resource_tags(labels, "g")[gang.GANG] == "g"


def test_a_gang_id_tells_its_age() -> None:
    assert gang_network.created_at(gang_network.new_gang_id(1_790_000_123.9)) == 1_790_000_123.0
    assert gang_network.created_at("g1") is None and gang_network.created_at("zzzzzzzzabcdef") is None


def test_every_text_rule_rejects_an_apostrophe() -> None:
    assert EC2_TEXT("the gang's group") is not None
