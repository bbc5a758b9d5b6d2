"""SNS: the alarm topic and its subscriptions."""

from __future__ import annotations




from lbguard.offline.emulator.core import (Prior, _auto_name, _drop_none, _tags_list,
                                   deletes, handles, update_tags, updates)

@handles("aws:sns/topic:Topic")
def _topic(em, args, i):
    name = i.get("name") or _auto_name(i.get("namePrefix") or args.name, 256)
    attrs = _drop_none({"KmsMasterKeyId": i.get("kmsMasterKeyId"), "DisplayName": i.get("displayName")})
    arn = em.client("sns").create_topic(Name=name, Attributes=attrs, Tags=_tags_list(i.get("tags")))["TopicArn"]
    return arn, {"id": arn, "arn": arn, "name": name}


@handles("aws:sns/topicSubscription:TopicSubscription")
def _subscription(em, args, i):
    arn = em.client("sns").subscribe(TopicArn=i["topic"], Protocol=i["protocol"], Endpoint=i["endpoint"],
                                     ReturnSubscriptionArn=True)["SubscriptionArn"]
    return arn, {"id": arn, "arn": arn}




@updates("aws:sns/topic:Topic")
def _update_topic(em, args, i, old: Prior, diffs: set):
    sns_ = em.client("sns")
    for key, attr in (("displayName", "DisplayName"), ("kmsMasterKeyId", "KmsMasterKeyId"), ("policy", "Policy")):
        if key in diffs:
            sns_.set_topic_attributes(TopicArn=old.id, AttributeName=attr, AttributeValue=i.get(key) or "")
    update_tags(old, i, diffs, untag=lambda keys: sns_.untag_resource(ResourceArn=old.id, TagKeys=keys),
                tag=lambda add: sns_.tag_resource(ResourceArn=old.id, Tags=_tags_list(add)))
    return {}


@deletes("aws:sns/topic:Topic")
def _delete_topic(em, old: Prior):
    em.client("sns").delete_topic(TopicArn=old.id)


@deletes("aws:sns/topicSubscription:TopicSubscription")
def _delete_subscription(em, old: Prior):
    em.client("sns").unsubscribe(SubscriptionArn=old.id)
