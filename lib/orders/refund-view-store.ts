import type { Db } from '../db';
import type { RefundLine, RefundStatus } from './refund-store';

/** The refunds as the API shows them: the read side of the `refunds` aggregate. */

export interface RefundView {
  id: string;
  orderId: string;
  amountCents: number;
  stripeRefundId: string | null;
  reason: string | null;
  status: RefundStatus;
  /** Stripe's error code when Stripe refused the refund (status failed). */
  failureReason: string | null;
  createdAt: string;
  items: RefundLine[];
}

interface RefundRow {
  id: string;
  order_id: string;
  amount_cents: number;
  stripe_refund_id: string | null;
  reason: string | null;
  status: RefundStatus;
  failure_reason: string | null;
  created_at: Date;
  items: RefundLine[] | null;
}

const REFUND_COLUMNS = `r.id, r.order_id, r.amount_cents, r.stripe_refund_id, r.reason, r.status, r.failure_reason, r.created_at,
  (SELECT json_agg(json_build_object('productId', ri.product_id, 'quantity', ri.quantity, 'amountCents', ri.amount_cents)
     ORDER BY ri.product_id) FROM refund_items ri WHERE ri.refund_id = r.id) AS items`;

function toView(row: RefundRow): RefundView {
  return {
    id: row.id,
    orderId: row.order_id,
    amountCents: row.amount_cents,
    stripeRefundId: row.stripe_refund_id,
    reason: row.reason,
    status: row.status,
    failureReason: row.failure_reason,
    createdAt: row.created_at.toISOString(),
    items: row.items ?? [],
  };
}

export async function refundsOf(db: Db, orderId: string): Promise<RefundView[]> {
  const { rows } = await db.query<RefundRow>(
    `SELECT ${REFUND_COLUMNS} FROM refunds r WHERE r.order_id = $1 ORDER BY r.created_at, r.id`,
    [orderId],
  );
  return rows.map(toView);
}

/** One refund and its order's status now. */
export async function refundWithOrderStatus(
  db: Db,
  refundId: string,
): Promise<{ refund: RefundView; orderStatus: string } | null> {
  const { rows } = await db.query<RefundRow & { order_status: string }>(
    `SELECT ${REFUND_COLUMNS}, o.status AS order_status FROM refunds r JOIN orders o ON o.id = r.order_id WHERE r.id = $1`,
    [refundId],
  );
  const row = rows[0];
  return row ? { refund: toView(row), orderStatus: row.order_status } : null;
}
