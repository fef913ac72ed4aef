import { Duration, RemovalPolicy } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as subscriptions from 'aws-cdk-lib/aws-sns-subscriptions';
import { Construct } from 'constructs';

/** The actions a publisher to an SSE-KMS topic needs on its key (SNS encrypts each message with a data key). */
export const TOPIC_KEY_PUBLISH_ACTIONS = ['kms:GenerateDataKey', 'kms:Decrypt'];

export interface NotificationTopicProps {
  displayName: string;
  /** Why the topic exists, for its key's description. */
  purpose: string;
}

/**
 * An SNS topic of this stack: encrypted with a customer-managed key (cdk-nag SNS2; the AWS-managed `alias/aws/sns`
 * key's policy lets no AWS service publish, so CloudWatch alarms could not), and refusing requests not over TLS (SNS3).
 * Publishers are added by `allowServicePublisher` (a service principal: topic and key policy) or `allowRolePublisher`
 * (an IAM role of this account: its own policy).
 */
export class NotificationTopic extends Construct {
  readonly topic: sns.Topic;
  readonly key: kms.Key;

  constructor(scope: Construct, id: string, props: NotificationTopicProps) {
    super(scope, id);
    this.key = new kms.Key(this, 'Key', {
      description: `Encrypts SNS topic ${props.displayName}: ${props.purpose}`,
      enableKeyRotation: true,
      // It only encrypts messages in flight (SNS keeps none once delivered): nothing is lost with it.
      removalPolicy: RemovalPolicy.DESTROY,
      pendingWindow: Duration.days(7),
    });
    this.topic = new sns.Topic(this, 'Topic', {
      displayName: props.displayName,
      masterKey: this.key,
      enforceSSL: true,
    });
  }

  /** Lets an AWS service publish: on the topic (its policy) and its key (the key policy), from this account only. */
  allowServicePublisher(service: string, sourceArnPattern: string, sourceAccount: string): void {
    const principal = new iam.ServicePrincipal(service);
    this.topic.addToResourcePolicy(
      new iam.PolicyStatement({
        principals: [principal],
        actions: ['sns:Publish'],
        resources: [this.topic.topicArn],
        conditions: {
          StringEquals: { 'aws:SourceAccount': sourceAccount },
          ArnLike: { 'aws:SourceArn': sourceArnPattern },
        },
      }),
    );
    // In a key policy `*` is this key.
    this.key.addToResourcePolicy(
      new iam.PolicyStatement({ principals: [principal], actions: TOPIC_KEY_PUBLISH_ACTIONS, resources: ['*'] }),
    );
  }

  /**
   * Lets a role of this account publish: sns:Publish on the topic and exactly the two key actions (not the topic's
   * `grantPublish`, whose key grant is `kms:GenerateDataKey*`).
   */
  allowRolePublisher(role: iam.IRole): void {
    role.addToPrincipalPolicy(new iam.PolicyStatement({ actions: ['sns:Publish'], resources: [this.topic.topicArn] }));
    role.addToPrincipalPolicy(
      new iam.PolicyStatement({ actions: TOPIC_KEY_PUBLISH_ACTIONS, resources: [this.key.keyArn] }),
    );
  }
}

/** An e-mail subscription (the address confirms it from the first message SNS sends). */
export function subscribeEmail(topic: sns.ITopic, address: string): void {
  topic.addSubscription(new subscriptions.EmailSubscription(address));
}
