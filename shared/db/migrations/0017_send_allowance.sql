-- The send rate check in O(1) (issue 17): each agent's allowance is one time on its row, the generic cell
-- rate algorithm's "theoretical arrival time". A send (or a notice its call causes) books 60/RATE seconds
-- from max(now, sends_booked_until); it is refused when that would book more than a minute ahead. So an
-- agent may send RATE messages at once, then one every 60/RATE seconds as the allowance refills, and the
-- check reads and writes one row however much mail there is. NULL: nothing booked.
ALTER TABLE agents ADD COLUMN sends_booked_until REAL;
